"""tms_tutorial: a small library for reproducing "Toy Models of Superposition".

Elhage et al., Transformer Circuits Thread, 2022.
"""

import importlib

from . import adversarial, metrics, stored, sweeps, theory
from .data import HiddenActivations, SetFeatures, SignedFeatures, SparseFeatures
from .evaluation import best_of, evaluate, loss_by_active_features, sampled_loss
from .models import (MLP, AdversarialToyModel, ComputationModel, NeuronModel, ResampleDuplicates, SparseAutoencoder,
                     ToyModel, reconstruction_loss)
from .train import History, NonFiniteLossError, train

__all__ = [
    "SparseFeatures",
    "SetFeatures",
    "SignedFeatures",
    "HiddenActivations",
    "ToyModel",
    "AdversarialToyModel",
    "NeuronModel",
    "ComputationModel",
    "ResampleDuplicates",
    "SparseAutoencoder",
    "MLP",
    "History",
    "NonFiniteLossError",
    "train",
    "evaluate",
    "sampled_loss",
    "loss_by_active_features",
    "best_of",
    "reconstruction_loss",
    "adversarial",
    "metrics",
    "plotting",
    "stored",
    "sweeps",
    "theory",
    "widgets",
]
__version__ = "0.1.0"

_LAZY = ("plotting", "widgets")  # they import matplotlib.pyplot, a quarter of the import time: load on first use


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
