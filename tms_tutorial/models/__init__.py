"""The models of the book, one file per family; each owns its loss (see base.py).

To add a model: subclass InstanceModel (define hidden and readout, or override
loss), or write any nn.Module with n_instances, n_features and
loss(x, target, importance) -> (n_instances,); train needs nothing more.
"""

from .adversarial import AdversarialToyModel
from .base import InstanceModel, reconstruction_loss
from .computation import ComputationModel, ResampleDuplicates
from .mlp import MLP
from .neuron import NeuronModel
from .sae import SparseAutoencoder
from .toy import ToyModel

__all__ = ["InstanceModel", "ToyModel", "AdversarialToyModel", "NeuronModel", "ComputationModel", "ResampleDuplicates", "MLP",
           "SparseAutoencoder",
           "reconstruction_loss"]
