"""Chapter 5's privileged-basis sweep with the paper's 1,000 fits per density.

The paper trained 1,000 NeuronModels (n = 10 features, m = 5 neurons, I_i = 0.75^i)
per density and showed the one with the lowest loss. Chapter 5 trains fewer fits
itself; this script trains the full 1,000 at each density below and writes, for
each density, every fit's loss and the weights of the best fit of each block of
100 consecutive fits (ten independent "best of 100" runs; the best of them is the
best of all 1,000), to tms_tutorial/stored/neuron_regimes.json. Chapter 5 reads it
with tms_tutorial.stored.load("neuron_regimes"), classifies the stored models'
regimes with tms_tutorial.metrics and compares best of 100 with best of 1,000.

Every fit trains the chapter's schedule (3,000 steps, batch 1024, AdamW at lr 1e-2
with a cosine decay); the losses are evaluated on 100,000 samples shared by all
fits of a density (evaluate's common_samples), so that fits are ranked without
sampling noise between them. The stored file is the output of one run of this
script; the same call gives the same numbers (one thread).

    python scripts/neuron_regimes.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from tms_tutorial import NeuronModel, SparseFeatures, evaluate, train

OUT = Path(__file__).resolve().parent.parent / "tms_tutorial" / "stored" / "neuron_regimes.json"
DENSITIES = [0.5, 0.3, 0.2, 0.15, 0.12, 0.08, 0.05, 0.03, 0.01]
N_FEATURES, N_HIDDEN, DECAY = 10, 5, 0.75
FITS, BLOCK = 1000, 100
STEPS, LR, SCHEDULE = 3000, 1e-2, "cosine"


def run(index: int, p: float) -> dict:
    importance = DECAY ** torch.arange(N_FEATURES, dtype=torch.float32)
    features = SparseFeatures(N_FEATURES, p, importance)
    model = NeuronModel(N_FEATURES, N_HIDDEN, FITS, seed=100 + index)
    start = time.perf_counter()
    train(model, features, steps=STEPS, lr=LR, schedule=SCHEDULE, seed=200 + index, progress=False, threads=1)
    seconds = time.perf_counter() - start
    loss = evaluate(model, features, common_samples=True)
    blocks = []
    for first in range(0, FITS, BLOCK):
        k = first + int(loss[first:first + BLOCK].argmin())
        blocks.append({"index": k, "loss": round(loss[k].item(), 7),
                       "W": [[round(w, 4) for w in row] for row in model.W[k].tolist()],
                       "b": [round(v, 4) for v in model.b[k].tolist()]})
    print(f"1-S = {p}: {seconds:.0f} s, best loss {loss.min().item():.5f}", flush=True)
    return {"density": p, "seconds": round(seconds), "loss": [round(v, 7) for v in loss.tolist()], "blocks": blocks}


def main() -> None:
    torch.set_num_threads(1)
    results = {"n_features": N_FEATURES, "n_hidden": N_HIDDEN, "importance_decay": DECAY, "fits": FITS,
               "block": BLOCK, "steps": STEPS, "lr": LR, "schedule": SCHEDULE, "batch_size": 1024,
               "densities": []}
    for index, p in enumerate(DENSITIES):
        results["densities"].append(run(index, p))
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, separators=(",", ":")))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
