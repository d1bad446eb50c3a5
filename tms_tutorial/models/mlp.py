"""A one-hidden-layer ReLU network for tasks other than reconstruction (chapter 7).

h = ReLU(W1 x + b1), y' = W2 h + b2, trained on the importance-weighted squared error
of y' against the task's target. With two inputs and the target x0 * x1 it shows neurons
that respond to both inputs without any superposition; on a lookup table it shows neurons
that fire on many unrelated items.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_positive_int, check_seed
from .base import InstanceModel, xavier_normal


class MLP(InstanceModel):
    """n_instances independent networks y' = W2 ReLU(W1 x + b1) + b2.

    Args: n_features (inputs), n_hidden (neurons), n_outputs, n_instances, seed,
    l1_coefficient (lambda of lambda ||h||_1, default 0). Weights start xavier-normal,
    biases at 0. The loss is InstanceModel's: the task's importance has one entry per
    output, (n_instances, n_outputs).

    Parameters:
        W1: (n_instances, n_hidden, n_features), row j = neuron j's input weights;
        b1: (n_instances, n_hidden);
        W2: (n_instances, n_outputs, n_hidden); b2: (n_instances, n_outputs).
    """

    def __init__(self, n_features: int, n_hidden: int, n_outputs: int = 1, n_instances: int = 1, seed: int = 0,
                 l1_coefficient=0.0) -> None:
        super().__init__(n_features, n_hidden, n_instances, l1_coefficient)
        self.n_outputs = check_positive_int(n_outputs, "n_outputs")
        generator = torch.Generator().manual_seed(check_seed(seed))
        self.W1 = nn.Parameter(xavier_normal(generator, n_instances, n_hidden, n_features))
        self.b1 = nn.Parameter(torch.zeros(n_instances, n_hidden))
        self.W2 = nn.Parameter(xavier_normal(generator, n_instances, n_outputs, n_hidden))
        self.b2 = nn.Parameter(torch.zeros(n_instances, n_outputs))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, n_outputs={self.n_outputs}"

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = ReLU(W1 x + b1): (n_instances, batch, n_features) -> (n_instances, batch, n_hidden)."""
        return torch.relu(torch.baddbmm(self.b1[:, None, :], x, self.W1.transpose(1, 2)))

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """y' = W2 h + b2: (n_instances, batch, n_hidden) -> (n_instances, batch, n_outputs)."""
        return torch.baddbmm(self.b2[:, None, :], h, self.W2.transpose(1, 2))
