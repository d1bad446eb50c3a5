"""Results of runs too long to repeat inside a chapter, stored with the package.

Each file in tms_tutorial/stored/ is written by the script in scripts/ that STORED
names, and read here, so that a chapter can print and plot it wherever it runs (Colab
installs the package, not the repository). JSON only: nothing here unpickles.
"""

from __future__ import annotations

import json
from importlib import resources

# name -> the script that writes tms_tutorial/stored/<name>.json
STORED = {"geometry_settings": "scripts/geometry_settings.py", "neuron_regimes": "scripts/neuron_regimes.py",
          "penalty_sweep": "scripts/penalty_sweep.py",
          "computation_sweep": "scripts/computation_sweep.py", "compressed_sensing": "scripts/compressed_sensing.py"}


def load(name: str) -> dict:
    """The stored results called ``name`` (one of STORED), as the script wrote them."""
    if name not in STORED:
        raise ValueError(f"name must be one of {sorted(STORED)}; got {name!r}")
    return json.loads(resources.files(__package__).joinpath("stored", f"{name}.json").read_text())
