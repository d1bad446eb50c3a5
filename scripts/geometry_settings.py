"""Chapter 3's uniform-superposition sweep under several training settings, between 1/(1-S) = 1 and 2.5.

The paper's feature-dimensionality scatter shows features on the tetrahedron (3/4) and
triangle (2/3) levels on the way from D_i = 1 to 1/2, and features with D_i = 1 when
dense. Chapter 3 trains a shortened schedule (2,000 steps at lr 1e-2, cosine) that
shows neither. This script tries the paper's own settings on a finer sparsity grid,
with several fits per point, and writes what each run found to
tms_tutorial/stored/geometry_settings.json, which chapter 3 reads with
tms_tutorial.stored.load("geometry_settings") and prints. It takes about
half an hour on one core of a 2-core laptop (the chapter could not run it itself).
The stored file is the output of one run of this script (28 minutes); the same call gives the same numbers.

    python scripts/geometry_settings.py            # all runs
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from tms_tutorial import SparseFeatures, ToyModel, best_of, evaluate, metrics, train

OUT = Path(__file__).resolve().parent.parent / "tms_tutorial" / "stored" / "geometry_settings.json"
INVERSE_DENSITY = [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5]
LEVELS = {"1": 1.0, "3/4": 0.75, "2/3": 2 / 3, "1/2": 0.5}
TOLERANCE = 0.04  # half the gap between 3/4 and 2/3 is 0.042
RUNS = [
    # name, n, m, importance decay, steps, lr, schedule, fits
    ("chapter: 2,000 steps, lr 1e-2 cosine", 400, 30, None, 2000, 1e-2, "cosine", 3),
    ("paper: 10,000 steps, lr 1e-3", 400, 30, None, 10_000, 1e-3, "constant", 2),
    ("notebook: n=200, m=20, I=0.9^i, 10,000 steps, lr 1e-3", 200, 20, 0.9, 10_000, 1e-3, "constant", 3),
]


def summarize(W: torch.Tensor) -> dict:
    """Per instance: D*, learned features, and how many learned features sit on each level."""
    D = metrics.feature_dimensionality(W)
    learned = metrics.feature_norms(W) > 0.5
    rows = []
    for k in range(W.shape[0]):
        d = D[k][learned[k]]
        rows.append({
            "d_star": round(metrics.dimensions_per_feature(W[k:k + 1])[0].item(), 4),
            "learned": int(learned[k].sum()),
            "levels": {name: int(((d - v).abs() < TOLERANCE).sum()) for name, v in LEVELS.items()},
            "D": [round(x, 3) for x in D[k].tolist()],
            "norm": [round(x, 3) for x in metrics.feature_norms(W[k:k + 1])[0].tolist()],
        })
    return rows


def run(name, n, m, decay, steps, lr, schedule, fits) -> dict:
    inverse = torch.tensor(INVERSE_DENSITY).repeat_interleave(fits)
    importance = 1.0 if decay is None else decay ** torch.arange(n, dtype=torch.float32)
    features = SparseFeatures(n, 1 / inverse, importance)
    model = ToyModel(n, m, len(inverse), seed=0)
    start = time.perf_counter()
    train(model, features, steps=steps, lr=lr, schedule=schedule, progress=False)
    seconds = time.perf_counter() - start
    loss = evaluate(model, features)
    best = best_of(loss, fits)
    W = model.W.detach()
    all_fits = summarize(W)
    points = []
    for j, value in enumerate(INVERSE_DENSITY):
        fit_rows = all_fits[j * fits:(j + 1) * fits]
        chosen = best[j].item() - j * fits
        points.append({
            "inverse_density": value,
            "best": fit_rows[chosen],
            "fits": [{"d_star": row["d_star"], "learned": row["learned"], "levels": row["levels"],
                      "loss": round(loss[j * fits + i].item(), 6)} for i, row in enumerate(fit_rows)],
        })
    print(f"{name}: {seconds:.0f} s", flush=True)
    return {"name": name, "n": n, "m": m, "importance_decay": decay, "steps": steps, "lr": lr,
            "schedule": schedule, "fits": fits, "seconds": round(seconds), "points": points}


def main() -> None:
    torch.set_num_threads(1)
    results = {"inverse_density": INVERSE_DENSITY, "tolerance": TOLERANCE, "levels": LEVELS, "runs": []}
    for spec in RUNS:
        results["runs"].append(run(*spec))
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
