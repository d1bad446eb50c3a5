"""The paper's toy model: n features squeezed into m hidden dimensions and back.

Paper section "Demonstrating Superposition": h = W x, and either
    linear:       x' = W^T W x + b
    ReLU output:  x' = ReLU(W^T W x + b)
with W of shape (m, n) and b of shape (n,).
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_activation, check_seed, check_weights
from .base import InstanceModel, xavier_normal

ACTIVATIONS = ("relu", "linear")


class ToyModel(InstanceModel):
    """n_instances independent toy models x' = act(W^T W x + b).

    Args:
        n_features: n, the number of input features (> 0).
        n_hidden: m, the hidden dimension (> 0).
        n_instances: how many independent models to hold (> 0).
        activation: "relu" for the ReLU output model, "linear" for the linear one.
        seed: seed of the initialization (xavier-normal W, zero b).
        l1_coefficient: lambda of an L1 penalty lambda ||h||_1 on the hidden
            activations h = W x, added to the loss (default 0: none); one
            number, or one per instance to sweep the penalty in one model.

    Parameters:
        W: (n_instances, n_hidden, n_features); column W[k, :, i] is feature i's direction.
        b: (n_instances, n_features).
    """

    def __init__(
        self,
        n_features: int,
        n_hidden: int,
        n_instances: int = 1,
        activation: str = "relu",
        seed: int = 0,
        l1_coefficient=0.0,
    ) -> None:
        super().__init__(n_features, n_hidden, n_instances, l1_coefficient)
        self.activation = check_activation(activation)
        generator = torch.Generator().manual_seed(check_seed(seed))
        self.W = nn.Parameter(xavier_normal(generator, n_instances, n_hidden, n_features))  # (I, m, n)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))  # (I, n)

    @classmethod
    def from_weights(cls, W, b=None, activation: str = "relu") -> "ToyModel":
        """A ToyModel holding given weights: W (n_instances, m, n), b (n_instances, n) or None for zeros.

        For example a candidate solution of the theory, to evaluate by sampling.
        """
        W = check_weights(W)
        n_instances, n_hidden, n_features = W.shape
        try:
            b = torch.zeros(n_instances, n_features) if b is None else torch.as_tensor(b).detach().float()
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"b must be an array of numbers; got {type(b).__name__}") from exc
        if b.shape != (n_instances, n_features):
            raise ValueError(f"b must have shape (n_instances, n_features) = {(n_instances, n_features)}; "
                             f"got {tuple(b.shape)}")
        if not torch.isfinite(b).all():
            raise ValueError("b must be finite; it holds NaN or infinite values")
        model = cls(n_features, n_hidden, n_instances, activation)
        with torch.no_grad():
            model.W.copy_(W)
            model.b.copy_(b)
        return model

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation!r}"

    def pre_activation_map(self) -> torch.Tensor:
        """W^T W, (n_instances, n_features, n_features): the output is act(W^T W x + b), so this matrix alone
        says how an input perturbation moves every output (the analytic attack's shortcut)."""
        return self.W.detach().transpose(1, 2) @ self.W.detach()

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h = W x: (n_instances, batch, n_features) -> (n_instances, batch, n_hidden)."""
        return torch.bmm(x, self.W.transpose(1, 2))

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """x' = act(W^T h + b): (n_instances, batch, n_hidden) -> (n_instances, batch, n_features)."""
        out = torch.baddbmm(self.b[:, None, :], h, self.W)
        return torch.relu(out) if self.activation == "relu" else out
