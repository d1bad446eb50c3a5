"""train on one thread, on the most it may use, and on its own choice: quiet and beside a busy core.

    python benchmarks/bench_threads.py            # every configuration of bench_train.py
    python benchmarks/bench_threads.py --only "(5, 2, 10)"

For each configuration, milliseconds per step of ``train`` with threads=1,
threads=N (the most this process may use: torch's count capped by the CPUs and
the container's quota) and threads=None (train times its steps and keeps the
faster), first on a quiet machine, then beside a process that keeps one core
busy. Each timing is the median of three windows, each one ``train`` call of
about two seconds and at least 40 steps, so the automatic choice pays its start
on one thread and its trials every time, as a short training run would. The
"auto/best" columns are the automatic choice's time over the better fixed
one's, in each condition: 1.00 means it lost nothing.
"""

from __future__ import annotations

import argparse
import contextlib

import torch

from bench_train import CONFIGS, OURS, densities, ms_per_step, one_core_busy
from tms_tutorial import train
from tms_tutorial.threads import available_cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="names of configurations to run")
    parser.add_argument("--windows", type=int, default=3, help="timing windows per measurement")
    args = parser.parse_args()
    most = min(torch.get_num_threads(), available_cpus())
    choices = (1, most, None)
    print(f"torch {torch.__version__}; ms per step with threads = 1, {most} and None (train's choice)")
    print(f"{'config (n, m, instances)':<31}{'quiet: 1':>9}{most:>7}{'auto':>8}{'auto/best':>10}"
          f"{'busy: 1':>10}{most:>7}{'auto':>8}{'auto/best':>10}")
    for name, (n, m, count, rule, kind) in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        model_class, features_class = OURS[kind]
        model, features = model_class(n, m, count), features_class(n, densities(rule, count))
        row = f"{name:<31}"
        for condition in ("quiet", "busy"):
            with one_core_busy() if condition == "busy" else contextlib.nullcontext():
                times = [ms_per_step(lambda k, t=threads: train(model, features, steps=k, progress=False, threads=t),
                                     args.windows, window_seconds=2.0, min_steps=40) for threads in choices]
            widths = (9, 7, 8) if condition == "quiet" else (10, 7, 8)
            row += "".join(f"{t:>{w}.2f}" for t, w in zip(times, widths))
            row += f"{times[2] / min(times[:2]):>10.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
