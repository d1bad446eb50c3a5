"""Fast training routes: speed-ups for the models they recognize, behind one door.

``step_for(model, features, batch_size, seed)`` returns a training step for a
model it knows, or None, and then train uses autograd on ``model.loss``. A step
``step(with_loss)`` sets the gradient of every parameter for one fresh batch
and returns the per-instance loss (n_instances,) when asked (else None or the
loss). Every route computes the gradient of the same expected loss as
autograd on a batch; each is tested equal to autograd (tests/test_fast.py).
Adding a model never requires a route here.

Routes, for a ToyModel without an L1 penalty trained to reconstruct its input:

* ``decomposed``: at most MAX_FEATURES (4) independent features: closed forms
  for the samples with at most one active feature, only the rest sampled;
* ``active``: on the CPU, instances sparse enough (n >= 64, n >= 3 m, fewer
  than m/2 active features per sample) draw only their active entries; the
  rest of the sweep goes dense;
* ``dense``: hand-written gradients, a cache-sized chunk of the batch at a time.

for a NeuronModel without an L1 penalty on independent sparse features, and a
ComputationModel without one on SignedFeatures (the absolute-value task):

* ``neuron`` and ``computation``: hand-written gradients with samples along the
  wide dimension, a cache-sized group of instances at a time.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from ..data import SignedFeatures, SparseFeatures
from ..models import ComputationModel, NeuronModel, ToyModel
from .active import prefers_active, split_step
from .decomposed import MAX_FEATURES, decomposed_loss, decomposed_step
from .dense import dense_step
from .neuron import computation_step, neuron_step

Step = Callable[[bool], Optional[torch.Tensor]]


def route(model, features) -> Optional[str]:
    """The name of the route train takes for this model and these features ("decomposed",
    "active", "dense", "neuron", "computation"), or None for autograd."""
    if type(model) is NeuronModel and not model.penalized and type(features) is SparseFeatures:
        return "neuron"
    if type(model) is ComputationModel and not model.penalized and type(features) is SignedFeatures:
        return "computation"
    if type(model) is not ToyModel or model.penalized:
        return None
    if not isinstance(features, SparseFeatures) or not features.target_is_input:
        return None
    if type(features) is SparseFeatures and model.n_features <= MAX_FEATURES:
        return "decomposed"
    if type(features) is SparseFeatures and model.W.device.type == "cpu" and _active_instances(model, features).any():
        return "active"
    return "dense"


def step_for(model, features, batch_size: int, seed: int) -> Optional[Step]:
    """A fast training step for this model and these features, or None (see the module)."""
    name = route(model, features)
    if name == "decomposed":
        return decomposed_step(model, features, batch_size, seed)
    if name == "active":
        return split_step(model, features, batch_size, seed, _active_instances(model, features))
    if name == "dense":
        return dense_step(model, features, batch_size, seed)
    if name == "neuron":
        return neuron_step(model, features, batch_size, seed)
    if name == "computation":
        return computation_step(model, features, batch_size, seed)
    return None


def loss_for(model, features, samples: int, seed: int) -> Optional[torch.Tensor]:
    """A more precise evaluation than a plain batch where one exists (the decomposed loss), else None."""
    if route(model, features) != "decomposed":
        return None
    return decomposed_loss(model, features, samples, seed)


def _active_instances(model: ToyModel, features: SparseFeatures) -> torch.Tensor:
    p_max = features.probability(model.n_instances).max(dim=1).values
    return prefers_active(p_max, model.n_features, model.n_hidden)


__all__ = ["route", "step_for", "loss_for", "MAX_FEATURES"]
