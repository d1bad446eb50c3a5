"""The privileged-basis model: a ReLU on the hidden layer makes its neurons special.

Paper section "Superposition in a Privileged Basis": h = ReLU(W x),
x' = ReLU(W^T h + b). Each hidden dimension is now a neuron, and one can ask
which features a neuron responds to (monosemantic or polysemantic).
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_seed
from .base import InstanceModel, xavier_normal


class NeuronModel(InstanceModel):
    """n_instances independent models h = ReLU(W x), x' = ReLU(W^T h + b).

    Args as ToyModel (without activation): n_features, n_hidden (the neurons),
    n_instances, seed, l1_coefficient (lambda of lambda ||h||_1, default 0).

    Parameters:
        W: (n_instances, n_hidden, n_features); row W[k, j, :] is neuron j's input weights.
        b: (n_instances, n_features).
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, seed: int = 0,
                 l1_coefficient: float = 0.0) -> None:
        super().__init__(n_features, n_hidden, n_instances, l1_coefficient)
        generator = torch.Generator().manual_seed(check_seed(seed))
        self.W = nn.Parameter(xavier_normal(generator, n_instances, n_hidden, n_features))  # (I, m, n)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))  # (I, n)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = ReLU(W x): (n_instances, batch, n_features) -> (n_instances, batch, n_hidden)."""
        return torch.relu(torch.bmm(x, self.W.transpose(1, 2)))

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """x' = ReLU(W^T h + b): (n_instances, batch, n_hidden) -> (n_instances, batch, n_features)."""
        return torch.relu(torch.baddbmm(self.b[:, None, :], h, self.W))
