"""Chapter 6's L1-penalty sweep with many fits per penalty: how often superposition survives it.

n = 20 features, m = 5 hidden dimensions, I_i = 0.7^i, 1-S = 0.03, an L1 penalty
lambda ||h||_1 on the hidden layer for each lambda below, 32 fits each, all trained side
by side in one ToyModel (3,000 steps of AdamW at lr 1e-2, cosine, batch 1024, the
chapter's schedule). For every fit it keeps the total loss (error + penalty, on 100,000
samples shared by the fits of a penalty), the error alone, the features represented and
superposed (metrics.count_superposed) and the total superposition; for every penalty the
share of fits that still superpose and the lowest-loss fit. About 4 minutes on one core;
chapter 6 reads tms_tutorial/stored/penalty_sweep.json with
tms_tutorial.stored.load("penalty_sweep"). The same call gives the same numbers.

    python scripts/penalty_sweep.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from tms_tutorial import SparseFeatures, ToyModel, evaluate, metrics, train

OUT = Path(__file__).resolve().parent.parent / "tms_tutorial" / "stored" / "penalty_sweep.json"
N_FEATURES, N_HIDDEN, DECAY, DENSITY = 20, 5, 0.7, 0.03
LAMBDAS = [0.0, 0.003, 0.01, 0.03, 0.1, 0.15, 0.2, 0.3, 0.5]
FITS, STEPS, LR = 32, 3000, 1e-2


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    importance = DECAY ** torch.arange(N_FEATURES, dtype=torch.float32)
    features = SparseFeatures(N_FEATURES, DENSITY, importance)
    coefficients = torch.tensor(LAMBDAS).repeat_interleave(FITS)
    model = ToyModel(N_FEATURES, N_HIDDEN, len(coefficients), seed=3, l1_coefficient=coefficients)
    train(model, features, steps=STEPS, lr=LR, schedule="cosine", seed=3, progress=False)
    total = evaluate(model, features, common_samples=True).reshape(len(LAMBDAS), FITS)
    W, b = model.W.detach(), model.b.detach()
    error = evaluate(ToyModel.from_weights(W, b), features, common_samples=True).reshape(len(LAMBDAS), FITS)
    represented, superposed = (count.reshape(len(LAMBDAS), FITS) for count in metrics.count_superposed(W))
    total_superposition = metrics.superposition(W).sum(dim=1).reshape(len(LAMBDAS), FITS)
    points = []
    for k, lam in enumerate(LAMBDAS):
        best = int(total[k].argmin())
        points.append({"lambda": lam, "total_loss": [round(v, 7) for v in total[k].tolist()],
                       "error": [round(v, 7) for v in error[k].tolist()],
                       "represented": represented[k].tolist(), "superposed": superposed[k].tolist(),
                       "total_superposition": [round(v, 3) for v in total_superposition[k].tolist()],
                       "fits_superposed": int((superposed[k] > 0).sum()), "best": best,
                       "best_superposed": int(superposed[k, best])})
        print(f"λ = {lam}: {points[-1]['fits_superposed']} of {FITS} fits superposed; the best fit "
              f"{points[-1]['best_superposed']} superposed features", flush=True)
    results = {"n_features": N_FEATURES, "n_hidden": N_HIDDEN, "importance_decay": DECAY, "density": DENSITY,
               "lambdas": LAMBDAS, "fits": FITS, "steps": STEPS, "lr": LR, "schedule": "cosine", "batch_size": 1024,
               "points": points, "seconds": round(time.perf_counter() - start)}
    OUT.write_text(json.dumps(results, separators=(",", ":")))
    print(f"{results['seconds']} s; wrote {OUT}")


if __name__ == "__main__":
    main()
