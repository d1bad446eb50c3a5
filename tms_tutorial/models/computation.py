"""The absolute-value model: computing a function while in superposition.

Paper section "Computation in Superposition": inputs x_i of either sign
(tms_tutorial.data.SignedFeatures), target y = |x|, and
h = ReLU(W_1 x), y' = ReLU(W_2 h + b), trained on the importance-weighted
squared error. One way to compute |x| is a pair of neurons per feature,
ReLU(x) + ReLU(-x).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_number, check_positive_int, check_seed
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

    @torch.no_grad()
    def merge_duplicates(self, threshold: float = 0.95, generator: torch.Generator = None) -> int:
        """Merge neurons that read the same direction, restart the freed ones at random; returns how many.

        Two neurons whose input weights have cosine above ``threshold`` compute nearly
        the same ReLU(u . x), up to scale: ReLU(a u . x) = a ReLU(u . x). The second is
        folded into the first (its output weights, rescaled by the ratio of the input
        norms, added to the first's), which leaves the function (nearly) unchanged.
        A neuron whose output weights times input norm fall below 1e-3 is idle. Each
        freed or idle neuron restarts with xavier-normal input weights (from
        ``generator``) and zero output weights, so the model computes what it did,
        and gradient descent may put the neuron to a new use. Dense inputs trap
        gradient descent with several neurons on one half of one feature
        (chapter 5); this is the way out that sparse-autoencoder training uses for
        dead latents.
        """
        threshold = check_number(threshold, "threshold")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must lie in (0, 1); got {threshold!r}")
        W1, W2 = self.W1.data, self.W2.data  # (I, m, n), (I, n, m)
        norms = W1.norm(dim=2).clamp_min(1e-12)  # (I, m)
        unit = W1 / norms[:, :, None]
        cosine = torch.triu(unit @ unit.transpose(1, 2), diagonal=1)  # (I, m, m), pairs (a < b)
        freed = (W2.norm(dim=1) * norms < 1e-3).cpu()  # (I, m): idle neurons
        for k, a, b in (cosine > threshold).nonzero().tolist():
            if freed[k, a] or freed[k, b]:
                continue
            W2[k, :, a] += W2[k, :, b] * (norms[k, b] / norms[k, a])
            freed[k, b] = True
        instances, neurons = freed.nonzero(as_tuple=True)
        if len(neurons):
            generator = generator or torch.Generator().manual_seed(0)
            fresh = torch.randn(len(neurons), self.n_features, generator=generator)  # xavier-normal rows of W1
            W1[instances, neurons] = fresh.to(W1.device) * math.sqrt(2.0 / (self.n_hidden + self.n_features))
            W2[instances, :, neurons] = 0.0
        return len(neurons)


class ResampleDuplicates:
    """A train callback: every ``every`` steps, up to step ``until``, model.merge_duplicates(threshold).

    Usage: train(model, features, ..., callback=ResampleDuplicates(250, 15_000)).
    ``every`` must be a multiple of train's log_every (callbacks run on recorded
    steps). ``resampled`` counts the neurons restarted so far, ``log`` holds
    (step, count) for each round that restarted any.
    """

    def __init__(self, every: int = 250, until: int = 15_000, threshold: float = 0.95, seed: int = 0) -> None:
        self.every = check_positive_int(every, "every")
        self.until = check_positive_int(until, "until")
        self.threshold = check_number(threshold, "threshold")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be a cosine in (0, 1]; got {threshold!r}")
        self.generator = torch.Generator().manual_seed(check_seed(seed))
        self.resampled = 0
        self.log = []

    def __call__(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        if step == 0 or step % self.every or step > self.until:
            return
        if not callable(getattr(model, "merge_duplicates", None)):
            raise ValueError(f"ResampleDuplicates needs a model with merge_duplicates (ComputationModel); "
                             f"got {type(model).__name__}")
        count = model.merge_duplicates(self.threshold, self.generator)
        if count:
            self.resampled += count
            self.log.append((step, count))
