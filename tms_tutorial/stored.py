"""Results of runs too long to repeat inside a chapter, stored with the package.

Each file in tms_tutorial/stored/ is written by the script in scripts/ that STORED
names, and read here, so that a chapter can print and plot it wherever it runs (Colab
installs the package, not the repository). JSON only: nothing here unpickles.
"""

from __future__ import annotations

import json
from importlib import resources

# name -> the script that writes tms_tutorial/stored/<name>.json
STORED = {"geometry_settings": "scripts/geometry_settings.py", "geometry_long": "scripts/geometry_long.py",
          "neuron_regimes": "scripts/neuron_regimes.py",
          "penalty_sweep": "scripts/penalty_sweep.py",
          "computation_sweep": "scripts/computation_sweep.py", "compressed_sensing": "scripts/compressed_sensing.py"}


def load(name: str) -> dict:
    """The stored results called ``name`` (one of STORED), as the script wrote them."""
    if name not in STORED:
        raise ValueError(f"name must be one of {sorted(STORED)}; got {name!r}")
    return json.loads(resources.files(__package__).joinpath("stored", f"{name}.json").read_text())


def level_table(run: dict, step: int, levels) -> str:
    """One run of geometry_long after ``step`` updates, as a table of at most 80 characters a line.

    Per sparsity: D* and the learned features of the lowest-loss fit, then, over every fit,
    how many learned features lie near each of ``levels`` (the names of the stored file's
    "levels", counted within its "tolerance"), out of all the fits' learned features: the
    count and the share.
    """
    points = run["points"]
    key = str(step)
    if not points or any(key not in point["checkpoints"] for point in points):
        raise ValueError(f"step must be one of the run's checkpoints {run.get('checkpoints')}; got {step!r}")
    lines = ["1/(1-S)          " + "".join(f"{point['inverse_density']:>10g}" for point in points)]
    best = [point["checkpoints"][key]["fits"][point["checkpoints"][key]["best"]] for point in points]
    lines.append("D* (best fit)    " + "".join(f"{fit['d_star']:>10.2f}" for fit in best))
    lines.append("learned (best)   " + "".join(f"{fit['learned']:>10d}" for fit in best))
    learned = [sum(fit["learned"] for fit in point["checkpoints"][key]["fits"]) for point in points]
    lines.append("learned (all)    " + "".join(f"{count:>10d}" for count in learned))
    for level in levels:
        counts = [sum(fit["levels"][level] for fit in point["checkpoints"][key]["fits"]) for point in points]
        cells = [f"{c} {c / n:4.0%}" if n else "0" for c, n in zip(counts, learned)]
        lines.append(f"D_i ~ {level:<11s}" + "".join(f"{cell:>10s}" for cell in cells))
    return "\n".join(lines)
