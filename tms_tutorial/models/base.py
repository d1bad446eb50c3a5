"""What every model of the book shares: instances side by side, and a loss it owns.

A model holds n_instances independent models in one module (the instance
dimension first), so that a whole sweep trains as one batched computation.
It maps x (n_instances, batch, n_features) through a hidden layer h to an
output, and its ``loss(x, target, importance)`` returns one number per
instance: the importance-weighted squared error of the output against the
target, plus the model's own penalty (here an optional L1 term on h, the
paper's "strategic picture" experiment). The trainer needs nothing else.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_number, check_positive_int


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Per-instance loss L = mean over the batch of sum_i I_i (x_i - x'_i)^2.

    x (the target), x_hat (the output): (n_instances, batch, n_features);
    importance: (n_instances, n_features). Returns: (n_instances,).
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape; got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    if x.dim() != 3 or x.shape[1] == 0:
        raise ValueError(f"x must have shape (n_instances, batch, n_features) with batch > 0; got {tuple(x.shape)}")
    if importance.shape != (x.shape[0], x.shape[2]):
        raise ValueError(
            f"importance must have shape (n_instances, n_features) = {(x.shape[0], x.shape[2])}; "
            f"got {tuple(importance.shape)}"
        )
    if (importance < 0).any():
        raise ValueError(f"importance must be >= 0; got a minimum of {importance.min().item():g}")
    return torch.einsum("ibn,in->i", (x - x_hat) ** 2, importance) / x.shape[1]


def per_instance(value, name: str, n_instances: int):
    """A coefficient >= 0: a float when one value serves every instance, else a (n_instances,) float tensor."""
    if isinstance(value, (torch.Tensor, list, tuple)) or hasattr(value, "__array__"):
        tensor = torch.as_tensor(value, dtype=torch.float32).detach().cpu()
        if tensor.dim() == 0:
            return check_number(tensor.item(), name)
        if tensor.shape != (n_instances,) or not torch.isfinite(tensor).all() or (tensor < 0).any():
            raise ValueError(f"{name} must be a finite number >= 0 or one per instance, shape ({n_instances},); "
                             f"got shape {tuple(tensor.shape)} with values {tensor.flatten()[:6].tolist()}")
        return tensor
    return check_number(value, name)


def xavier_normal(generator: torch.Generator, n_instances: int, rows: int, cols: int) -> torch.Tensor:
    """Xavier-normal init of n_instances (rows x cols) matrices: std sqrt(2 / (rows + cols))."""
    return torch.randn(n_instances, rows, cols, generator=generator) * math.sqrt(2.0 / (rows + cols))


class InstanceModel(nn.Module):
    """Base of the book's models: sizes, input checks, and loss = weighted error + L1 penalty on h.

    Subclasses define ``hidden(x) -> h`` (n_instances, batch, n_hidden) and
    ``readout(h) -> output`` (n_instances, batch, n_features).
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int, l1_coefficient=0.0) -> None:
        super().__init__()
        self.n_features = check_positive_int(n_features, "n_features")
        self.n_hidden = check_positive_int(n_hidden, "n_hidden")
        self.n_instances = check_positive_int(n_instances, "n_instances")
        self.l1_coefficient = per_instance(l1_coefficient, "l1_coefficient", self.n_instances)

    @property
    def penalized(self) -> bool:
        """Whether any instance has an L1 penalty on h (then training takes the autograd route)."""
        return bool(torch.as_tensor(self.l1_coefficient).ne(0).any())

    def extra_repr(self) -> str:
        coefficient = self.l1_coefficient
        shown = f"{coefficient:g}" if isinstance(coefficient, float) else "per instance"
        penalty = f", l1_coefficient={shown}" if self.penalized else ""
        return f"n_features={self.n_features}, n_hidden={self.n_hidden}, n_instances={self.n_instances}{penalty}"

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """x checked for shape and type, in the parameters' dtype (float64 input is computed in float32)."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor; got {getattr(x, 'dtype', type(x).__name__)}")
        if x.dim() != 3 or x.shape[0] != self.n_instances or x.shape[2] != self.n_features:
            raise ValueError(
                f"x must have shape (n_instances={self.n_instances}, batch, "
                f"n_features={self.n_features}); got {tuple(x.shape)}"
            )
        return x.to(next(self.parameters()).dtype)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n_instances, batch, n_features) -> output: (n_instances, batch, n_features)."""
        x = self.check_input(x)
        return self.readout(self.hidden(x))

    def loss(self, x: torch.Tensor, target: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of sum_i I_i (target_i - output_i)^2 + l1_coefficient ||h||_1: (n_instances,).

        l1_coefficient is one number, or one per instance (a sweep over the penalty in one model).
        """
        x = self.check_input(x)
        h = self.hidden(x)
        loss = reconstruction_loss(target, self.readout(h), importance)
        return loss + self.penalty(h) if self.penalized else loss

    def penalty(self, h: torch.Tensor) -> torch.Tensor:
        """The L1 term l1_coefficient ||h||_1, averaged over the batch: (n_instances,)."""
        coefficient = self.l1_coefficient
        if isinstance(coefficient, torch.Tensor):
            coefficient = coefficient.to(h.device)
        return coefficient * h.abs().sum(dim=2).mean(dim=1)
