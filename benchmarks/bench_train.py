"""Training speed and memory: tms_tutorial.train against a plain reference loop.

Toy models (the paper's x' = ReLU(W^T W x + b)) on the sweeps of chapters 1-3, and
the models of chapter 5: NeuronModel (n = 10, m = 5, 1,000 instances) and
ComputationModel (n = 100, m = 40, 7 instances, the absolute-value task).

    python benchmarks/bench_train.py            # every configuration, quiet and contended
    python benchmarks/bench_train.py --quick    # fewer timing windows
    python benchmarks/bench_train.py --quiet-only

The reference is written the way the paper's authors' notebook trains: data laid
out as (batch, instance, feature), an einsum forward pass, dense torch.rand masks,
autograd and AdamW. Both run in this process, one after the other, on the same
configuration; each configuration's peak memory is measured in a fresh
subprocess (the peak resident set size while training, minus the peak before
it: torch's import is not counted). Prints milliseconds per step (median over timing windows), the ratio,
our fixed start-up cost, peak memory, and a floor for the dense instances (the time to draw
their random numbers and do their batch-sized matrix products; for the two-layer models,
every instance's): no step on a real batch can be faster, so reference / floor bounds the
ratio any such method could reach.

Each configuration is then timed again beside a process that keeps one core busy
(a Python busy loop), the way a shared machine, a busy laptop or Binder runs it:
"busy" columns. Both loops run as readers would run them: the reference with
torch's default thread count, ours with train's own choice (tms_tutorial.threads).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from tms_tutorial import ComputationModel, NeuronModel, SignedFeatures, SparseFeatures, ToyModel, train
from tms_tutorial.data import UniformStream
from tms_tutorial.fast import MAX_FEATURES
from tms_tutorial.fast.active import prefers_active

# (n_features, n_hidden, n_instances, densities, kind): each sweeps 1 - S the way its experiment does.
CONFIGS = {
    "(5, 2, 10)": (5, 2, 10, "20 ** -linspace(0, 1)", "toy"),
    "(20, 5, 8)": (20, 5, 8, "logspace(0, -3)", "toy"),
    "(100, 20, 20)": (100, 20, 20, "logspace(0, -3)", "toy"),
    "(200, 20, 20)": (200, 20, 20, "logspace(0, -3)", "toy"),
    "(400, 30, 40)": (400, 30, 40, "logspace(0, -3)", "toy"),
    "(2, 1, 4000) grid": (2, 1, 4000, "logspace(0, -2)", "toy"),
    "NeuronModel (10, 5, 1000)": (10, 5, 1000, "logspace(0, -2)", "neuron"),
    "ComputationModel (100, 40, 7)": (100, 40, 7, "abs sweep", "computation"),
}
BATCH = 1024


def densities(rule: str, count: int) -> torch.Tensor:
    if rule == "20 ** -linspace(0, 1)":
        return 20.0 ** -torch.linspace(0, 1, count)
    if rule == "abs sweep":  # the paper's absolute-value sweep
        return torch.tensor([1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001])
    low = {"logspace(0, -3)": -3, "logspace(0, -2)": -2}[rule]
    return torch.logspace(0, low, count)


class ReferenceModel(nn.Module):
    """The authors' notebook's model: W (instance, feature, hidden), data (batch, instance, feature)."""

    def __init__(self, n_features: int, n_hidden: int, n_instances: int) -> None:
        super().__init__()
        self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_instances, n_features, n_hidden)))
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = torch.einsum("...if,ifh->...ih", features, self.W)
        out = torch.einsum("...ih,ifh->...if", hidden, self.W)
        out = out + self.b_final
        return torch.relu(out)


class ReferenceNeuronModel(nn.Module):
    """The neuron model written the same way: h = ReLU(W x), x' = ReLU(W^T h + b)."""

    def __init__(self, n_features: int, n_hidden: int, n_instances: int) -> None:
        super().__init__()
        self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_instances, n_features, n_hidden)))
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(torch.einsum("...if,ifh->...ih", features, self.W))
        return torch.relu(torch.einsum("...ih,ifh->...if", hidden, self.W) + self.b_final)


class ReferenceComputationModel(nn.Module):
    """The absolute-value model written the same way: h = ReLU(W1 x), y' = ReLU(W2 h + b)."""

    def __init__(self, n_features: int, n_hidden: int, n_instances: int) -> None:
        super().__init__()
        self.W1 = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_instances, n_features, n_hidden)))
        self.W2 = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_instances, n_hidden, n_features)))
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(torch.einsum("...if,ifh->...ih", features, self.W1))
        return torch.relu(torch.einsum("...ih,ihf->...if", hidden, self.W2) + self.b_final)


REFERENCES = {"toy": ReferenceModel, "neuron": ReferenceNeuronModel, "computation": ReferenceComputationModel}
OURS = {"toy": (ToyModel, SparseFeatures), "neuron": (NeuronModel, SparseFeatures),
        "computation": (ComputationModel, SignedFeatures)}


def reference_train(model: nn.Module, p: torch.Tensor, importance: torch.Tensor, steps: int,
                    signed: bool = False) -> None:
    """The notebook's loop: dense uniform values and a dense uniform mask per entry, autograd, AdamW.

    signed: values uniform on [-1, 1] and the target |x| (the absolute-value task)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    n_instances, n_features = importance.shape
    for _ in range(steps):
        optimizer.zero_grad()
        feat = torch.rand(BATCH, n_instances, n_features)
        if signed:
            feat = 2 * feat - 1
        mask = torch.rand(BATCH, n_instances, n_features) <= p[None, :, None]
        batch = torch.where(mask, feat, torch.zeros(()))
        out = model(batch)
        error = importance * (batch.abs() - out) ** 2
        loss = error.mean(dim=(0, 2)).sum()  # mean over batch and features, summed over instances
        loss.backward()
        optimizer.step()


def floor_ms(batch: torch.Tensor, products, windows: int) -> float:
    """ms per step to fill batch with uniform numbers and run the products, nothing else."""
    rng = UniformStream(0)

    def run(steps: int) -> None:
        for _ in range(steps):
            rng.fill(batch)
            for product in products:
                product()

    return ms_per_step(run, windows)


def two_layer_floor_ms(n: int, m: int, count: int, windows: int) -> float:
    """The same bound for NeuronModel and ComputationModel instances: ms to draw every uniform number
    and do the five batch-sized products of a step (a = W1 x, y = W2 h; dL/dW2, dL/dh, dL/dW1),
    in the transposed layout (samples last) that is the faster one on a CPU."""
    xT = torch.empty(count, n, BATCH)
    W1, W2 = torch.randn(count, m, n), torch.randn(count, n, m)
    hT, gT = torch.randn(count, m, BATCH), torch.randn(count, n, BATCH)
    products = [lambda: torch.bmm(W1, xT), lambda: torch.bmm(W2, hT), lambda: torch.bmm(gT, hT.transpose(1, 2)),
                lambda: torch.bmm(W2.transpose(1, 2), gT), lambda: torch.bmm(hT, xT.transpose(1, 2))]
    return floor_ms(xT, products, windows)


def dense_floor_ms(n: int, m: int, p: torch.Tensor, windows: int) -> float:
    """A lower bound on any step that trains the dense instances on a real batch: ms to draw
    their uniform numbers and do their batch-sized matrix products, nothing else.

    The dense instances are those train sends neither to the decomposition (n <= 4) nor to
    the active-entry route. Their products: x G and x^T g through G = W^T W when 2n <= 5m,
    else the four (B x n) by (n x m)-sized products of the hand-written gradient. Returns 0
    when no instance is dense.
    """
    k = int((~prefers_active(p, n, m)).sum()) if n > MAX_FEATURES else 0
    if k == 0:
        return 0.0
    x = torch.empty(k, BATCH, n)
    W = torch.randn(k, m, n)
    if 2 * n <= 5 * m:
        G = torch.randn(k, n, n)
        products = [lambda: torch.bmm(x, G), lambda: torch.bmm(x.transpose(1, 2), x)]
    else:
        hT = torch.randn(k, m, BATCH)
        products = [lambda: torch.bmm(W, x.transpose(1, 2)), lambda: torch.bmm(hT.transpose(1, 2), W),
                    lambda: torch.bmm(hT, x), lambda: torch.bmm(hT, x)]  # h^T g and (dL/dh)^T x: same shapes
    return floor_ms(x, products, windows)


def ms_per_step(run, windows: int, window_seconds: float = 1.0, min_steps: int = 2) -> float:
    """Median milliseconds per step over timing windows of about window_seconds each (at least min_steps steps)."""
    start = time.perf_counter()
    run(2)  # warm-up, and a first estimate
    estimate = (time.perf_counter() - start) / 2
    steps = max(min_steps, int(window_seconds / max(estimate, 1e-6)))
    times = []
    for _ in range(windows):
        start = time.perf_counter()
        run(steps)
        times.append((time.perf_counter() - start) / steps * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def one_core_busy():
    """Another process spinning on one core for the duration."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it start spinning
        yield
    finally:
        busy.kill()
        busy.wait()


def measure_memory(name: str, which: str) -> float:
    """Peak resident memory (MB) of training this configuration, in a fresh process."""
    command = [sys.executable, __file__, "--memory-child", name, which]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def peak_rss_kb() -> int:
    """This process's peak resident set size in kB.

    /proc's VmHWM starts afresh at exec; getrusage's ru_maxrss would carry over
    the parent's peak, so it is only the fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(name: str, which: str) -> None:
    n, m, count, rule, kind = CONFIGS[name]
    p = densities(rule, count)
    importance = torch.ones(count, n)
    before = peak_rss_kb()
    if which == "reference":
        reference_train(REFERENCES[kind](n, m, count), p, importance, steps=3, signed=kind == "computation")
    else:
        model_class, features_class = OURS[kind]
        train(model_class(n, m, count), features_class(n, p), steps=3, progress=False)
    print(json.dumps({"peak_mb": (peak_rss_kb() - before) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 timing windows instead of 7")
    parser.add_argument("--only", nargs="*", default=None, help="names of configurations to run")
    parser.add_argument("--quiet-only", action="store_true", help="skip the runs beside a busy core")
    args = parser.parse_args()
    windows = 3 if args.quick else 7
    from tms_tutorial.threads import available_cpus

    print(f"torch {torch.__version__}, batch {BATCH}; the reference on torch's default {torch.get_num_threads()} "
          f"threads, ours choosing between 1 and {min(torch.get_num_threads(), available_cpus())}")
    header = (
        f"{'config (n, m, instances)':<24}{'reference ms/step':>18}{'ours ms/step':>14}{'ratio':>8}"
        f"{'our fixed cost s':>18}{'10k steps ours':>16}{'peak MB ref':>13}{'peak MB ours':>14}"
        f"{'dense floor ms':>16}{'ratio bound':>13}"
        + ("" if args.quiet_only else f"{'busy ref ms':>13}{'busy ours ms':>14}{'busy ratio':>12}")
    )
    print(header)
    for name, (n, m, count, rule, kind) in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        p = densities(rule, count)
        importance = torch.ones(count, n)
        reference = REFERENCES[kind](n, m, count)
        signed = kind == "computation"
        model_class, features_class = OURS[kind]
        features = features_class(n, p)
        model = model_class(n, m, count)

        def run_reference(k: int) -> None:
            reference_train(reference, p, importance, k, signed)

        def run_ours(k: int) -> None:
            train(model, features, steps=k, progress=False)

        ref_ms = ms_per_step(run_reference, windows)
        ours_ms = ms_per_step(run_ours, windows)
        busy = ""
        if not args.quiet_only:
            with one_core_busy():
                busy_ref, busy_ours = ms_per_step(run_reference, windows), ms_per_step(run_ours, windows)
            busy = f"{busy_ref:>13.2f}{busy_ours:>14.2f}{busy_ref / busy_ours:>11.1f}x"
        start = time.perf_counter()
        train(model_class(n, m, count), features, steps=1, progress=False)
        fixed = max(0.0, time.perf_counter() - start - ours_ms / 1000)

        ref_mb = measure_memory(name, "reference")
        ours_mb = measure_memory(name, "ours")
        floor = dense_floor_ms(n, m, p, windows) if kind == "toy" else two_layer_floor_ms(n, m, count, windows)
        bound = f"{ref_ms / floor:>12.1f}x" if floor > 0 else f"{'-':>13}"
        print(
            f"{name:<24}{ref_ms:>18.2f}{ours_ms:>14.2f}{ref_ms / ours_ms:>7.1f}x{fixed:>18.3f}"
            f"{ours_ms * 10:>14.0f} s{ref_mb:>13.0f}{ours_mb:>14.0f}{floor:>16.2f}{bound}{busy}",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], sys.argv[3])
    else:
        main()
