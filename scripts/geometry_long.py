"""Chapter 3's search for the paper's intermediate levels (3/4, 2/3) with long schedules.

The paper's feature-dimensionality scatter puts features on the tetrahedron (D_i = 3/4)
and triangle (2/3) levels between 1/(1-S) = 1 and about 3. Chapter 3's own settings
(scripts/geometry_settings.py: up to 10,000 steps) find almost none. This script tries
what could produce them, between 1/(1-S) = 1.2 and 3:

- the paper's n = 400, m = 30 on the authors' schedule (lr 1e-3, constant) for 50,000
  steps, scored after 10,000, 25,000 and 50,000 steps (so the effect of a longer schedule
  is read off one set of fits);
- the authors' notebook size n = 200, m = 20 (uniform importance) for 50,000 steps;
- n = 400, m = 30 with four times the batch (4,096) for the authors' 10,000 steps;

each with several fits per sparsity, keeping every fit's numbers so that the chapter can
report both the lowest-loss fit and the spread. Step 0 (the initialization) is kept as
the untrained baseline. It writes tms_tutorial/stored/geometry_long.json, which chapter 3
reads with tms_tutorial.stored.load("geometry_long"). The runs are split by sparsity over
two worker processes of one thread each; the stored file is the output of one run of this
script, 45 minutes (2,709 s) on a shared 2-core machine. The same call gives the same
numbers. Every fit's summary is kept; every feature's D_i only for each sparsity's
lowest-loss fit (W itself is not stored).

    python scripts/geometry_long.py
"""

from __future__ import annotations

import json
import time
from multiprocessing import get_context
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tms_tutorial" / "stored" / "geometry_long.json"
INVERSE_DENSITY = [1.2, 1.5, 1.8, 2.2, 2.6, 3.0]
LEVELS = {"1": 1.0, "3/4": 0.75, "2/3": 2 / 3, "1/2": 0.5}
TOLERANCE = 0.04  # half the gap between 3/4 and 2/3 is 0.042
LEARNED = 0.5  # a feature counts as learned when its norm exceeds this
RUNS = {
    # name: n, m, steps, batch, fits, checkpoints, inverse densities
    "paper, 50,000 steps": dict(n=400, m=30, steps=50_000, batch=1024, fits=3,
                                checkpoints=[0, 10_000, 25_000, 50_000], grid=INVERSE_DENSITY),
    "notebook size, 50,000 steps": dict(n=200, m=20, steps=50_000, batch=1024, fits=3,
                                        checkpoints=[0, 10_000, 50_000], grid=INVERSE_DENSITY),
    "batch 4,096, 10,000 steps": dict(n=400, m=30, steps=10_000, batch=4096, fits=2,
                                      checkpoints=[0, 10_000], grid=[1.5, 2.2, 3.0]),
}
LR = 1e-3


def summarize(W: torch.Tensor, loss: torch.Tensor | None) -> list[dict]:
    """Per fit: its loss, D*, learned features, level counts, and every feature's D_i and norm."""
    from tms_tutorial import metrics

    D = metrics.feature_dimensionality(W)
    norm = metrics.feature_norms(W)
    rows = []
    for k in range(W.shape[0]):
        learned = norm[k] > LEARNED
        d = D[k][learned]
        rows.append({
            "loss": None if loss is None else round(loss[k].item(), 6),
            "d_star": round(metrics.dimensions_per_feature(W[k:k + 1])[0].item(), 4),
            "learned": int(learned.sum()),
            "levels": {name: int(((d - v).abs() < TOLERANCE).sum()) for name, v in LEVELS.items()},
            "D": [round(x, 3) for x in D[k].tolist()],
            "norm": [round(x, 3) for x in norm[k].tolist()],
        })
    return rows


def task(spec: tuple[str, float]) -> dict:
    """Train one run's fits at one sparsity; summarize them at every checkpoint."""
    from tms_tutorial import SparseFeatures, ToyModel, evaluate, train

    torch.set_num_threads(1)
    name, inverse = spec
    run = RUNS[name]
    n, m, fits = run["n"], run["m"], run["fits"]
    features = SparseFeatures(n, torch.full((fits,), 1 / inverse), 1.0)
    model = ToyModel(n, m, fits, seed=round(inverse * 100))
    start = time.perf_counter()
    history = train(model, features, steps=run["steps"], batch_size=run["batch"], lr=LR,
                    schedule="constant", snapshots=run["checkpoints"], progress=False, threads=1)
    seconds = time.perf_counter() - start
    checkpoints = {}
    steps = [int(s) for s in history.snapshot_steps]
    for step in run["checkpoints"]:
        k = steps.index(step)
        with torch.no_grad():
            for key, value in history.snapshots.items():
                getattr(model, key).copy_(torch.as_tensor(value[k]))
        loss = evaluate(model, features)
        checkpoints[str(step)] = summarize(model.W.detach(), loss)
    print(f"{name} at 1/(1-S) = {inverse}: {seconds:.0f} s", flush=True)
    return compact({"run": name, "inverse_density": inverse, "seconds": round(seconds), "checkpoints": checkpoints})


def compact(point: dict) -> dict:
    """Keep every fit's summary, and every feature's D_i of the lowest-loss fit only (the stored file stays small)."""
    for step, fits in point["checkpoints"].items():
        best = min(range(len(fits)), key=lambda k: fits[k]["loss"])
        point["checkpoints"][step] = {
            "fits": [{k: v for k, v in fit.items() if k not in ("D", "norm")} for fit in fits],
            "best": best, "best_D": fits[best]["D"]}
    return point


def main() -> None:
    start = time.perf_counter()
    tasks = [(name, inverse) for name, run in RUNS.items() for inverse in run["grid"]]
    # longest first, so the two workers finish together
    cost = {name: run["n"] * run["m"] * run["steps"] * run["batch"] * run["fits"] for name, run in RUNS.items()}
    tasks.sort(key=lambda t: -cost[t[0]])
    with get_context("spawn").Pool(2) as pool:
        done = list(pool.imap_unordered(task, tasks, chunksize=1))
    results = {"inverse_density": INVERSE_DENSITY, "tolerance": TOLERANCE, "learned_norm": LEARNED,
               "levels": LEVELS, "lr": LR, "schedule": "constant", "runs": []}
    for name, run in RUNS.items():
        points = sorted((d for d in done if d["run"] == name), key=lambda d: d["inverse_density"])
        results["runs"].append({"name": name, **{k: v for k, v in run.items() if k != "grid"},
                                "points": points})
    results["seconds"] = round(time.perf_counter() - start)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    print(f"wrote {OUT} in {results['seconds']} s")


if __name__ == "__main__":
    main()
