"""Chapter 5's absolute-value sweep at the paper's sizes and the authors' training schedule.

n = 100 features, m = 40 neurons, I_i = 0.8^i, 1-S in {1, 0.3, 0.1, 0.03, 0.01, 0.003,
0.001}; 10,000 steps of AdamW at lr 1e-3, batch 1024. Each density gets four fits:
two started from xavier-normal weights and two from the "abs" start (see
ComputationModel), which avoids an output-ReLU trap that xavier starts fall into at
sparse densities (tms_tutorial.sweeps.computation_sweep). It takes about 10 minutes on
one core of a 2-core laptop, too long for the chapter, which reads what this script
writes to tms_tutorial/stored/computation_sweep.json with
tms_tutorial.stored.load("computation_sweep"): every fit's loss and single-feature
responses, and the weights of each density's lowest-loss fit (4 decimals). The same
call gives the same numbers (one thread).

    python scripts/computation_sweep.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from tms_tutorial import sweeps

OUT = Path(__file__).resolve().parent.parent / "tms_tutorial" / "stored" / "computation_sweep.json"
DENSITIES = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
SETTINGS = {"n_features": 100, "n_hidden": 40, "importance_decay": 0.8, "seeds": 2, "abs_scale": 0.3,
            "steps": 10_000, "lr": 1e-3, "seed": 0}


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    run = sweeps.computation_sweep(DENSITIES, **SETTINGS)
    seconds = time.perf_counter() - start
    for k, p in enumerate(DENSITIES):
        print(f"1-S = {p}: losses {[round(v, 5) for v in run['loss'][k].tolist()]}", flush=True)
    results = dict(sweeps.summarize_computation_sweep(run, DENSITIES, SETTINGS), seconds=round(seconds))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, separators=(",", ":")))
    print(f"{seconds:.0f} s; wrote {OUT}")


if __name__ == "__main__":
    main()
