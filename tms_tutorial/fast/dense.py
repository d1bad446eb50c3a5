"""Hand-written gradients of ToyModels on dense batches, a cache-sized chunk at a time.

For a ToyModel trained on its reconstruction loss (no penalty) the whole step
is written out: a few passes over memory per chunk instead of autograd's many.
Equal to autograd on the same batch (tests/test_fast.py).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch

from .._checks import check_activation
from ..data import SparseFeatures, UniformStream, chunk_size


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
    """Loss and gradients of ToyModel instances on one chunk of a batch: (loss or None, dL/dW, dL/db).

    W: (k, m, n), b and importance: (k, n), x: (k, chunk, n) one chunk of a batch of
    batch_size; the loss is reconstruction_loss over the whole batch, so the
    calls summed over its chunks give the batch's loss and gradients:

        h = W x,  y = W^T h + b,  x' = ReLU(y) (or y)
        dL/dy = (2 / B) I (x' - x) [y > 0],  called (2 / B) I g below
        dL/dW = (h^T g + W g^T x) scaled by (2 / B) I per feature column,
        dL/db = (2 / B) I sum_batch g

    When n <= 2.5 m it is cheaper to go through G = W^T W: y = x G + b and
    dL/dW = W (dL/dG + dL/dG^T) with dL/dG = x^T g scaled the same way.
    """
    check_activation(activation)
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


def chunked_gradients(W: torch.Tensor, b: torch.Tensor, features: SparseFeatures, importance: torch.Tensor,
                      rng: UniformStream, buffer: torch.Tensor, batch_size: int, activation: str, with_loss: bool):
    """(loss or None, dL/dW, dL/db) of a fresh batch drawn chunk by chunk into ``buffer`` (k, chunk, n)."""
    chunk = buffer.shape[1]
    loss = grad_W = grad_b = None
    for start in range(0, batch_size, chunk):
        size = min(chunk, batch_size - start)
        x = features.transform(rng.fill(buffer if size == chunk else buffer[:, :size].contiguous()))
        part = dense_gradients(W, b, x, importance, batch_size, activation, with_loss)
        if start == 0:
            loss, grad_W, grad_b = part
        else:
            grad_W.add_(part[1])
            grad_b.add_(part[2])
            if with_loss:
                loss = loss + part[0]
    return loss, grad_W, grad_b


def dense_step(model, features: SparseFeatures, batch_size: int, seed: int) -> Callable[[bool], Optional[torch.Tensor]]:
    """A training step of a ToyModel on fresh dense batches: sets W.grad and b.grad, returns the loss if asked.

    On the CPU the batch is drawn and processed in chunks that stay in the
    caches; a GPU is better served by one launch per batch.
    """
    device = model.W.device
    importance = features.importance_matrix(model.n_instances, device).contiguous()
    rng = UniformStream(seed, device)
    chunk = chunk_size(model.n_instances, model.n_features, batch_size) if device.type == "cpu" else batch_size
    buffer = torch.empty(model.n_instances, chunk, model.n_features, device=device)

    def step(with_loss: bool) -> Optional[torch.Tensor]:
        loss, model.W.grad, model.b.grad = chunked_gradients(
            model.W.detach(), model.b.detach(), features, importance, rng, buffer, batch_size, model.activation,
            with_loss)
        return loss

    return step
