"""Hand-written gradients of NeuronModels, samples along the wide dimension.

NeuronModel sweeps hold many tiny models (the paper trains 1,000 of n = 10,
m = 5 per setting). Batched products of (1024 x 10) by (10 x 5) matrices are
slow on a CPU, and so is autograd's bookkeeping around them; (5 x 10) by
(10 x 1024) products are several times faster. So here a batch is drawn and
kept transposed, x^T (k, n, B), a group of instances at a time small enough
to stay in the caches, and the step is written out:

    a^T = W x^T,  h^T = ReLU(a^T),  y^T = W^T h^T + b,  x'^T = ReLU(y^T)
    g^T = (2 / B) I (x' - x)^T [y > 0]                 (dL/dy)
    dL/dW = h^T g + ([a > 0] W g^T) x,  dL/db = sum_batch g

Equal to autograd on the same batch (tests/test_fast_neuron.py).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch

from ..data import SparseFeatures, UniformStream


@torch.no_grad()
def neuron_gradients(W: torch.Tensor, b: torch.Tensor, xT: torch.Tensor, importance: torch.Tensor, batch_size: int,
                     with_loss: bool = False, out: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                     work: Optional[Tuple[torch.Tensor, ...]] = None,
                     ) -> Tuple[Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Loss and gradients of NeuronModel instances on a transposed batch: (loss or None, dL/dW, dL/db).

    W: (k, m, n); b, importance: (k, n); xT: (k, n, batch_size), the batch with samples last.
    The loss is reconstruction_loss of the batch, L = mean over samples of sum_i I_i (x_i - x'_i)^2.
    out: optional (dL/dW, dL/db) tensors to write into; work: optional scratch tensors of
    shapes (k, m, B), (k, m, B), (k, n, B), (k, n, B), reused across calls (fresh large
    tensors cost page faults).
    """
    k, m, n = W.shape
    B = xT.shape[2]
    if work is None:
        work = (xT.new_empty(k, m, B), xT.new_empty(k, m, B), xT.new_empty(k, n, B), xT.new_empty(k, n, B))
    aT, hT, yT, gT = work
    grad_W, grad_b = out if out is not None else (W.new_empty(k, m, n), W.new_empty(k, n))
    torch.bmm(W, xT, out=aT)  # a^T: (k, m, B)
    torch.clamp_min(aT, 0, out=hT)  # h^T
    torch.baddbmm(b[:, :, None], W.transpose(1, 2), hT, out=yT)  # y^T: (k, n, B)
    loss = None
    if with_loss:
        error = yT.clamp_min(0).sub_(xT)
        loss = (error.square_().sum(dim=2) * importance).sum(dim=1) / batch_size
    torch.sub(yT, xT, out=gT)
    torch.ops.aten.threshold_backward.grad_input(gT, yT, 0.0, grad_input=gT)  # (y - x)^T, 0 where y <= 0
    gT.mul_(((2.0 / batch_size) * importance)[:, :, None])  # dL/dy^T
    torch.sum(gT, dim=2, out=grad_b)
    torch.bmm(hT, gT.transpose(1, 2), out=grad_W)  # h^T g: (k, m, n)
    dhT = torch.bmm(W, gT, out=hT)  # (dL/dh)^T: (k, m, B), over h^T, no longer needed
    daT = torch.ops.aten.threshold_backward.grad_input(dhT, aT, 0.0, grad_input=dhT)  # (dL/da)^T
    grad_W.baddbmm_(daT, xT.transpose(1, 2))
    return loss, grad_W, grad_b


def group_size(n_instances: int, n_features: int, batch_size: int, target_bytes: int = 1 << 21) -> int:
    """Instances per group so that one (group, n_features, batch_size) float32 array is about 2 MB."""
    return max(1, min(n_instances, target_bytes // (4 * n_features * batch_size)))


def neuron_step(model, features: SparseFeatures, batch_size: int, seed: int) -> Callable[[bool], Optional[torch.Tensor]]:
    """A training step of a NeuronModel on fresh batches: sets W.grad and b.grad, returns the loss if asked.

    Each entry is one uniform number u, turned into the feature ReLU(1 - u / p)
    as in SparseFeatures.transform, here in the transposed layout.
    """
    device = model.W.device
    n_instances, n = model.n_instances, model.n_features
    importance = features.importance_matrix(n_instances, device).contiguous()
    p = features.probability(n_instances, device)[:, :, None]  # (I, n, 1)
    scale = -1.0 / p.clamp_min(1e-30)
    never = (p > 0).to(p.dtype) if (p == 0).any() else None  # u = 0 would count as active at p = 0
    rng = UniformStream(seed, device)
    group = group_size(n_instances, n, batch_size) if device.type == "cpu" else n_instances
    buffer = torch.empty(group, n, batch_size, device=device)
    work = (torch.empty(group, model.n_hidden, batch_size, device=device),
            torch.empty(group, model.n_hidden, batch_size, device=device), torch.empty_like(buffer),
            torch.empty_like(buffer))

    def step(with_loss: bool) -> Optional[torch.Tensor]:
        W, b = model.W.detach(), model.b.detach()
        grad_W, grad_b = torch.empty_like(W), torch.empty_like(b)
        loss = torch.empty(n_instances, device=device) if with_loss else None
        for first in range(0, n_instances, group):
            last = min(first + group, n_instances)
            xT = rng.fill(buffer if last - first == group else buffer[: last - first].contiguous())
            xT.mul_(scale[first:last]).add_(1.0).relu_()
            if never is not None:
                xT.mul_(never[first:last])
            size = last - first
            scratch = work if size == group else tuple(t[:size] for t in work)
            part = neuron_gradients(W[first:last], b[first:last], xT, importance[first:last], batch_size, with_loss,
                                    out=(grad_W[first:last], grad_b[first:last]), work=scratch)[0]
            if with_loss:
                loss[first:last] = part
        model.W.grad, model.b.grad = grad_W, grad_b
        return loss

    return step
