"""tms_tutorial: a small library for reproducing "Toy Models of Superposition".

Elhage et al., Transformer Circuits Thread, 2022.
"""

from . import metrics, plotting, widgets
from .data import SparseFeatures
from .models import ToyModel, reconstruction_loss
from .train import History, best_of, evaluate, train

__all__ = [
    "SparseFeatures",
    "ToyModel",
    "History",
    "train",
    "evaluate",
    "best_of",
    "reconstruction_loss",
    "metrics",
    "plotting",
    "widgets",
]
__version__ = "0.1.0"
