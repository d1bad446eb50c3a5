"""The toy models: n features squeezed into m hidden dimensions and back.

Paper section "Demonstrating Superposition": h = W x, and either
    linear:       x' = W^T W x + b
    ReLU output:  x' = ReLU(W^T W x + b)
with W of shape (m, n) and b of shape (n,). Many independent models
("instances") are held side by side in one module so that a whole sweep trains
as one batched computation; the instance dimension always comes first.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import nn

from ._checks import check_positive_int

ACTIVATIONS = ("relu", "linear")


class ToyModel(nn.Module):
    """n_instances independent toy models x' = act(W^T W x + b).

    Args:
        n_features: n, the number of input features (> 0).
        n_hidden: m, the hidden dimension (> 0).
        n_instances: how many independent models to hold (> 0).
        activation: "relu" for the ReLU output model, "linear" for the linear one.
        seed: seed of the initialization (xavier-normal W, zero b).

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
    ) -> None:
        super().__init__()
        self.n_features = check_positive_int(n_features, "n_features")
        self.n_hidden = check_positive_int(n_hidden, "n_hidden")
        self.n_instances = check_positive_int(n_instances, "n_instances")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        self.activation = activation
        generator = torch.Generator().manual_seed(seed)
        # Xavier-normal for each instance's m x n matrix: std = sqrt(2 / (m + n)).
        std = math.sqrt(2.0 / (n_hidden + n_features))
        W = torch.randn(n_instances, n_hidden, n_features, generator=generator) * std
        self.W = nn.Parameter(W)  # (I, m, n)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))  # (I, n)

    def extra_repr(self) -> str:
        return (
            f"n_features={self.n_features}, n_hidden={self.n_hidden}, "
            f"n_instances={self.n_instances}, activation={self.activation!r}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n_instances, batch, n_features) -> x': (n_instances, batch, n_features)."""
        if x.dim() != 3 or x.shape[0] != self.n_instances or x.shape[2] != self.n_features:
            raise ValueError(
                f"x must have shape (n_instances={self.n_instances}, batch, "
                f"n_features={self.n_features}); got {tuple(x.shape)}"
            )
        h = torch.bmm(x, self.W.transpose(1, 2))  # (I, B, m)
        out = torch.baddbmm(self.b[:, None, :], h, self.W)  # (I, B, n)
        return torch.relu(out) if self.activation == "relu" else out

    @torch.no_grad()
    def accumulate_gradients(
        self, x: torch.Tensor, importance: torch.Tensor, batch_size: int, with_loss: bool = False
    ) -> Optional[torch.Tensor]:
        """Add the gradient of this chunk's share of the loss to W.grad and b.grad.

        The loss is reconstruction_loss over a batch of ``batch_size`` samples, of
        which ``x`` (n_instances, chunk, n_features) is one chunk; summing the
        calls over all chunks gives the gradient of the sum over instances of
        that loss, the same as autograd would. Written out by hand so that each
        chunk makes only a few passes over memory:

            h = W x,  y = W^T h + b,  x' = ReLU(y) (or y)
            dL/dy = (2 / B) I (x' - x) [y > 0],  called (2 / B) I g below
            dL/dW = (h^T g + W g^T x) scaled by (2 / B) I per feature column,
            dL/db = (2 / B) I sum_batch g

        When n <= 2.5 m it is cheaper to go through G = W^T W: y = x G + b and
        dL/dW = W (dL/dG + dL/dG^T) with dL/dG = x^T g scaled the same way.

        Returns this chunk's share of each instance's loss
        (n_instances,) if with_loss, else None.
        """
        loss, grad_W, grad_b = dense_gradients(
            self.W.detach(), self.b.detach(), x, importance, batch_size, self.activation, with_loss
        )
        for parameter, grad in ((self.W, grad_W), (self.b, grad_b)):
            if parameter.grad is None:
                parameter.grad = grad
            else:
                parameter.grad.add_(grad)
        return loss


@torch.no_grad()
def dense_gradients(
    W: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    importance: torch.Tensor,
    batch_size: int,
    activation: str,
    with_loss: bool = False,
) -> Tuple[Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
    """The work of ToyModel.accumulate_gradients on given weights: (loss or None, dL/dW, dL/db).

    W: (k, m, n), b and importance: (k, n), x: (k, chunk, n) one chunk of a batch of batch_size.
    """
    scale = (2.0 / batch_size) * importance  # (I, n)
    gram = 2 * W.shape[2] <= 5 * W.shape[1]  # fewer multiply-adds through G = W^T W
    if gram:
        G = torch.bmm(W.transpose(1, 2), W)  # (I, n, n)
        y = torch.baddbmm(b[:, None, :], x, G)  # (I, B, n)
    else:
        hT = torch.bmm(W, x.transpose(1, 2))  # h^T: (I, m, B); faster than x W^T here
        y = torch.baddbmm(b[:, None, :], hT.transpose(1, 2), W)  # (I, B, n)
    loss = None
    if with_loss:
        error = y.clamp_min(0).sub_(x) if activation == "relu" else y - x
        loss = _weighted_square_sum(error, importance) / batch_size
    g = torch.sub(y, x)
    if activation == "relu":  # g = (y - x) where y > 0, else 0: ReLU's backward kernel
        g = torch.ops.aten.threshold_backward.grad_input(g, y, 0.0, grad_input=g)
    if gram:  # dL/dG = x^T g scale; dL/dW = W (dL/dG + dL/dG^T)
        grad_G = torch.bmm(x.transpose(1, 2), g).mul_(scale[:, None, :])  # (I, n, n)
        grad_W = torch.bmm(W, grad_G + grad_G.transpose(1, 2))
    else:
        grad_W = torch.bmm(hT, g)  # (I, m, n)
        grad_W.mul_(scale[:, None, :])
        dhT = torch.bmm(W * scale[:, None, :], g.transpose(1, 2))  # (dL/dh)^T: (I, m, B)
        grad_W.baddbmm_(dhT, x)
    grad_b = g.sum(dim=1).mul_(scale)  # (I, n)
    return loss, grad_W, grad_b


def _weighted_square_sum(error: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """sum over batch and features of I_i error^2: (I, B, n), (I, n) -> (I,)."""
    return (error.square().sum(dim=1) * importance).sum(dim=1)


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Per-instance loss L = mean over the batch of sum_i I_i (x_i - x'_i)^2.

    x, x_hat: (n_instances, batch, n_features); importance: (n_instances, n_features).
    Returns: (n_instances,).
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape; got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    if importance.shape != (x.shape[0], x.shape[2]):
        raise ValueError(
            f"importance must have shape (n_instances, n_features) = {(x.shape[0], x.shape[2])}; "
            f"got {tuple(importance.shape)}"
        )
    return torch.einsum("ibn,in->i", (x - x_hat) ** 2, importance) / x.shape[1]
