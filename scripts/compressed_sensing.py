"""Chapter 6's compressed-sensing comparison: how many features trained toy models store per dimension.

ReLU-output ToyModels with equally important features in m = 10 dimensions, across 13
densities 1-S from 1 to 0.001 (log-spaced), in three runs: n = 400 features with a
short schedule (2,000 steps at lr 1e-2, cosine), n = 400 and n = 1000 with the paper's
(10,000 steps at lr 1e-3, constant); batch 1024, one fit per density. n/m caps what a
run can store per dimension (40 and 100). For each model it keeps every
feature's norm ||W_i|| (3 decimals), the features represented (||W_i|| > 0.5), 1/D*
and the loss. About 25 minutes on one core of a 2-core laptop, too long for the
chapter, which reads what this script writes to
tms_tutorial/stored/compressed_sensing.json with
tms_tutorial.stored.load("compressed_sensing"). The same call gives the same numbers
(one thread).

    python scripts/compressed_sensing.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from tms_tutorial import SparseFeatures, ToyModel, evaluate, metrics, train

OUT = Path(__file__).resolve().parent.parent / "tms_tutorial" / "stored" / "compressed_sensing.json"
DENSITIES = torch.logspace(0, -3, 13)
RUNS = [
    {"name": "n = 400, short schedule", "n": 400, "m": 10, "steps": 2000, "lr": 1e-2, "schedule": "cosine"},
    {"name": "n = 400, paper's schedule", "n": 400, "m": 10, "steps": 10_000, "lr": 1e-3, "schedule": "constant"},
    {"name": "n = 1000, paper's schedule", "n": 1000, "m": 10, "steps": 10_000, "lr": 1e-3, "schedule": "constant"},
]


def fit(run: dict) -> dict:
    features = SparseFeatures(run["n"], DENSITIES)
    model = ToyModel(run["n"], run["m"], len(DENSITIES), seed=0)
    start = time.perf_counter()
    train(model, features, steps=run["steps"], lr=run["lr"], schedule=run["schedule"], seed=0, progress=False)
    seconds = time.perf_counter() - start
    W = model.W.detach()
    norms = metrics.feature_norms(W)
    loss = evaluate(model, features)
    inverse_d_star = 1 / metrics.dimensions_per_feature(W)
    points = [{"density": round(p, 6), "represented": int((norms[k] > 0.5).sum()),
               "inverse_d_star": round(inverse_d_star[k].item(), 4), "loss": round(loss[k].item(), 6),
               "norms": [round(v, 3) for v in norms[k].tolist()]}
              for k, p in enumerate(DENSITIES.tolist())]
    for point in points:
        print(f"  1-S = {point['density']:.4f}: {point['represented']} represented, "
              f"1/D* = {point['inverse_d_star']:.2f}", flush=True)
    return dict(run, seconds=round(seconds), points=points)


def main() -> None:
    torch.set_num_threads(1)
    runs = []
    for run in RUNS:
        print(run["name"], flush=True)
        runs.append(fit(run))
        print(f"  {runs[-1]['seconds']} s", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"batch_size": 1024, "runs": runs}, separators=(",", ":")))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
