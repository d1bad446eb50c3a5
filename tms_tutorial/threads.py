"""How many CPU threads torch uses while training: chosen by timing, so training never collapses under contention.

On a quiet machine torch's intra-op threads speed up the larger steps a little
(1.0-1.5x with two threads on the benchmark's configurations). When another
process keeps a core busy, every small op and even the fused AdamW step waits
for a thread that is not running, and two threads were 2.8-5x slower than one
(benchmarks/bench_train.py measures both). Which is better depends on what
else the machine is doing at the time, so ``train`` times its own steps: it
starts on one thread, tries the most it may use for a short window (cut short
as soon as it falls well behind), keeps whichever ran faster, and tries the
other again at doubling intervals.

The most it may use: torch's thread count when training starts (lower it with
torch.set_num_threads or OMP_NUM_THREADS), capped by the CPUs this process may
run on and by its container's CPU quota (cgroups v1 and v2; Binder sets one).

The thread count changes no number: the routes' results are bitwise the same on
one thread and on several (tests/test_threads.py checks every route), as long as
the model holds several instances, whose products torch spreads over the threads
one matrix each. A single instance's products would have their sums split over
the threads instead, which changes the last bits, so ``train`` keeps a
single-instance model on one thread.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Optional

import torch

from ._checks import check_positive_int

# A timing window lasts about this long (seconds), and at least MIN_WINDOW steps.
WINDOW_SECONDS = 0.1
MIN_WINDOW = 2
# After a trial the chosen count runs for this many windows before the next trial, doubling
# each time the trial confirms the choice, up to LONGEST_WAIT windows.
FIRST_WAIT, LONGEST_WAIT = 4, 256
# A trial is cut short, as lost, once its steps so far took this many times the chosen count's.
BEHIND = 1.5


def cpu_quota(root: str = "/sys/fs/cgroup") -> Optional[float]:
    """The container's CPU quota in CPUs (e.g. 1.5), or None where there is none or it cannot be read."""
    try:  # cgroups v2: "max 100000" or "150000 100000"
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroups v1: a quota of -1 means none
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period = int(f.read())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cpus(root: str = "/sys/fs/cgroup") -> int:
    """CPUs this process may use: its affinity mask, capped by the container's CPU quota (at least 1)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = cpu_quota(root)
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return max(1, count)


class ThreadChooser:
    """Times training steps and sets torch's intra-op thread count to whichever of 1 and ``most`` runs faster.

    Use as a context manager around the training loop, calling ``step_done()``
    after every step; on exit torch's thread count is restored. ``fixed`` pins
    the count instead (no timing). With most == 1 it only sets one thread.
    most defaults to available_cpus(), capped by torch's thread count now.
    """

    def __init__(self, most: Optional[int] = None, fixed: Optional[int] = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if fixed is not None:
            check_positive_int(fixed, "threads")
        if most is None:
            most = min(torch.get_num_threads(), available_cpus())
        check_positive_int(most, "most")
        self.fixed = None if fixed is None else int(fixed)
        self.clock = clock
        self.candidates = (1, int(most)) if most > 1 else (1,)
        self.current = self.fixed if self.fixed is not None else 1
        self.choices: list = []  # (step, threads) each time the count was set, for inspection
        self._saved = None
        self._steps = 0
        self._window = 0  # steps per timing window; 0 until the first step has been timed
        self._count = 0  # steps in the window being timed
        self._start = 0.0
        self._wait = FIRST_WAIT
        self._windows_left = 1  # windows until the next trial
        self._trial_of: Optional[int] = None  # the count being tried, while a trial runs
        self._last_time = math.inf  # seconds per step of the last window on the chosen count

    def __enter__(self) -> "ThreadChooser":
        self._saved = torch.get_num_threads()
        self._set(self.current)
        self._start = self.clock()
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._saved)

    def _set(self, threads: int) -> None:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        self.choices.append((self._steps, threads))

    def step_done(self) -> None:
        self._steps += 1
        if self.fixed is not None or len(self.candidates) == 1:
            return
        self._count += 1
        now = self.clock()
        if self._window == 0:  # the first step: warm-up; size the window from it
            self._window = max(MIN_WINDOW, math.ceil(WINDOW_SECONDS / max(now - self._start, 1e-6)))
            self._count, self._start = 0, now
            return
        elapsed = now - self._start
        if self._trial_of is not None:  # a trial: it ends when its window is done or can no longer win
            behind = elapsed > BEHIND * self._last_time * self._count or elapsed > self._last_time * self._window
            if self._count < self._window and not behind:
                return
            per_step = elapsed / self._count
            tried, self._trial_of = self._trial_of, None
            self._count, self._start = 0, now
            if per_step < self._last_time:  # (a trial cut short has lost already)
                self.current, self._wait = tried, FIRST_WAIT
                self._last_time = per_step
            else:
                self._wait = min(2 * self._wait, LONGEST_WAIT)
                self._set(self.current)
            self._windows_left = self._wait
            return
        if self._count < self._window:
            return
        per_step = elapsed / self._count
        self._count, self._start = 0, now
        self._last_time = per_step
        self._window = max(MIN_WINDOW, math.ceil(WINDOW_SECONDS / max(per_step, 1e-6)))
        self._windows_left -= 1
        if self._windows_left <= 0:  # try the other count for one window
            self._trial_of = next(c for c in self.candidates if c != self.current)
            self._set(self._trial_of)
