"""Chapter 5's absolute-value sweep at the paper's sizes, and the training procedures compared on it.

n = 100 features, m = 40 neurons, I_i = 0.8^i, 1-S in {1, 0.3, 0.1, 0.03, 0.01, 0.003,
0.001}, batch 1024. Each density gets six fits, three started from xavier-normal
weights and three from the "abs" start (see ComputationModel), trained 20,000 steps of
AdamW at lr 3e-3 on a cosine schedule, with the neurons that duplicate another merged
and restarted every 250 steps up to step 15,000 (ComputationModel.merge_duplicates).
The responses of the 20 most important features are kept at a few steps of training
(the output-ReLU trap, as it forms).

Beside it, at 1-S = 1 and 0.3, the same fits trained two other ways, so that the chapter
can show what each part of the procedure buys: the authors' schedule (10,000 steps at
lr 1e-3, constant, no resampling) and the long cosine schedule without resampling.

About 13 minutes on a 2-core laptop (each density is its own run, two at a time on one
thread each; the same call gives the same numbers). The chapter reads what this script
writes to tms_tutorial/stored/computation_sweep.json with
tms_tutorial.stored.load("computation_sweep").

    python scripts/computation_sweep.py
"""

from __future__ import annotations

import json
import time
from multiprocessing import get_context
from pathlib import Path

import torch

from tms_tutorial import sweeps

OUT = Path(__file__).resolve().parent.parent / "tms_tutorial" / "stored" / "computation_sweep.json"
DENSITIES = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
SETTINGS = {"n_features": 100, "n_hidden": 40, "importance_decay": 0.8, "seeds": 3, "abs_scale": 0.3,
            "steps": 20_000, "schedule": "cosine", "resample_every": 250, "resample_until": 15_000, "seed": 0}
LEARNING_RATES = [3e-3, 1e-3]  # every density at both: the denser prefer the higher, the sparsest the lower
SNAPSHOTS = [0, 100, 300, 1000, 3000, 10_000, 20_000]
# other procedures, on the dense densities only: (name, changes to SETTINGS)
PROCEDURES = {"authors": {"steps": 10_000, "lr": 1e-3, "schedule": "constant", "resample_every": None,
                          "resample_until": None},
              "cosine": {"lr": 3e-3, "resample_every": None, "resample_until": None}}
DENSE = [1.0, 0.3]


def run(task):
    """One density, one procedure: ("sweep", lr, density) or (procedure name, None, density)."""
    name, lr, density = task
    torch.set_num_threads(1)
    settings = dict(SETTINGS, lr=lr) if name == "sweep" else dict(SETTINGS, **PROCEDURES[name])
    snapshots = SNAPSHOTS if name == "sweep" else ()
    result = sweeps.computation_sweep([density], snapshots=snapshots, **settings)
    summary = sweeps.summarize_computation_sweep(result, [density], settings)
    print(f"{name} lr {settings['lr']:g} 1-S = {density}: losses {[round(v, 5) for v in result['loss'][0].tolist()]}",
          flush=True)
    return task, summary


def combine(done) -> dict:
    """Every task's summary into one record: per density the fits of both learning rates side by side."""
    by_task = {task: summary for task, summary in done}
    per_rate = [{"densities": [by_task["sweep", lr, p]["densities"][0] for p in DENSITIES]} for lr in LEARNING_RATES]
    results = dict(SETTINGS, learning_rates=LEARNING_RATES, batch_size=1024, snapshot_steps=SNAPSHOTS,
                   fits=[{"init": init, "lr": lr} for lr in LEARNING_RATES
                         for init in by_task["sweep", lr, DENSITIES[0]]["init"]],
                   resampled=[sum(by_task["sweep", lr, p]["resampled"] for lr in LEARNING_RATES) for p in DENSITIES],
                   densities=sweeps.merge_computation_sweeps(per_rate))
    results["procedures"] = {
        name: dict(PROCEDURES[name], points=[{"density": p, "loss": by_task[name, None, p]["densities"][0]["loss"]}
                                             for p in DENSE])
        for name in PROCEDURES}
    return results


def main() -> None:
    start = time.perf_counter()
    tasks = [("sweep", lr, p) for lr in LEARNING_RATES for p in DENSITIES] + \
            [(name, None, p) for name in PROCEDURES for p in DENSE]
    with get_context("spawn").Pool(2) as pool:
        done = pool.map(run, tasks, chunksize=1)
    results = combine(done)
    results["seconds"] = round(time.perf_counter() - start)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, separators=(",", ":")))
    print(f"{results['seconds']} s; wrote {OUT}")


if __name__ == "__main__":
    main()
