"""The absolute-value model: computing a function while in superposition.

Paper section "Computation in Superposition": inputs x_i of either sign
(tms_tutorial.data.SignedFeatures), target y = |x|, and
h = ReLU(W_1 x), y' = ReLU(W_2 h + b), trained on the importance-weighted
squared error. One way to compute |x| is a pair of neurons per feature,
ReLU(x) + ReLU(-x).
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_number, check_seed
from .base import InstanceModel, xavier_normal


INITS = ("xavier", "abs")


class ComputationModel(InstanceModel):
    """n_instances independent models h = ReLU(W1 x), y' = ReLU(W2 h + b).

    Args: n_features, n_hidden (the neurons), n_instances, seed,
    l1_coefficient (lambda of lambda ||h||_1, default 0), and the start:

    * init "xavier" (default): W1 and W2 xavier-normal, times init_scale (default 1);
    * init "abs": W1 xavier-normal times init_scale, and W2 = |W1|^T, so that every
      output starts out computing a faint |x_i| (sum over neurons of |W1_ji| ReLU(W1_j x)).

    Why a second start: with an output ReLU, a feature whose output is never positive on
    one sign of x_i gets no gradient to learn that half of |x_i|, and from xavier weights
    sparse features fall into this (chapter 5 measures how often). Starting every output
    alive avoids it for sparse features but not for dense ones; chapter 5 trains both and
    keeps the lower loss.

    Parameters:
        W1: (n_instances, n_hidden, n_features), the neurons' input weights.
        W2: (n_instances, n_features, n_hidden), the output weights.
        b: (n_instances, n_features).
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, seed: int = 0,
                 l1_coefficient: float = 0.0, init: str = "xavier", init_scale: float = 1.0) -> None:
        super().__init__(n_features, n_hidden, n_instances, l1_coefficient)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}; got {init!r}")
        scale = check_number(init_scale, "init_scale", positive=True)
        generator = torch.Generator().manual_seed(check_seed(seed))
        W1 = scale * xavier_normal(generator, n_instances, n_hidden, n_features)
        W2 = scale * xavier_normal(generator, n_instances, n_features, n_hidden)
        if init == "abs":
            W2 = W1.abs().transpose(1, 2).contiguous()
        self.init = init
        self.W1 = nn.Parameter(W1)  # (I, m, n)
        self.W2 = nn.Parameter(W2)  # (I, n, m)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))  # (I, n)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = ReLU(W1 x): (n_instances, batch, n_features) -> (n_instances, batch, n_hidden)."""
        return torch.relu(torch.bmm(x, self.W1.transpose(1, 2)))

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """y' = ReLU(W2 h + b): (n_instances, batch, n_hidden) -> (n_instances, batch, n_features)."""
        return torch.relu(torch.baddbmm(self.b[:, None, :], h, self.W2.transpose(1, 2)))
