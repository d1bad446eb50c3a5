"""tms_tutorial: a small library for reproducing "Toy Models of Superposition".

Elhage et al., Transformer Circuits Thread, 2022.
"""

from . import metrics, plotting, sweeps, theory, widgets
from .data import SetFeatures, SignedFeatures, SparseFeatures
from .evaluation import best_of, evaluate, loss_by_active_features, sampled_loss
from .models import ComputationModel, NeuronModel, ToyModel, reconstruction_loss
from .train import History, NonFiniteLossError, train

__all__ = [
    "SparseFeatures",
    "SetFeatures",
    "SignedFeatures",
    "ToyModel",
    "NeuronModel",
    "ComputationModel",
    "History",
    "NonFiniteLossError",
    "train",
    "evaluate",
    "sampled_loss",
    "loss_by_active_features",
    "best_of",
    "reconstruction_loss",
    "metrics",
    "plotting",
    "sweeps",
    "theory",
    "widgets",
]
__version__ = "0.1.0"
