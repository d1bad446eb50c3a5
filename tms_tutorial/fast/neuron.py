"""Hand-written gradients of two-layer ReLU models (NeuronModel, ComputationModel), samples along the wide dimension.

NeuronModel sweeps hold many tiny models (the paper trains 1,000 of n = 10,
m = 5 per setting). Batched products of (1024 x 10) by (10 x 5) matrices are
slow on a CPU, and so is autograd's bookkeeping around them; (5 x 10) by
(10 x 1024) products are several times faster. So here a batch is drawn and
kept transposed, x^T (k, n, B), a group of instances at a time small enough
to stay in the caches, and the step is written out, for h = ReLU(W1 x),
x' = ReLU(W2 h + b) and a target t (x itself, or |x| for the absolute-value task):

    a^T = W1 x^T,  h^T = ReLU(a^T),  y^T = W2 h^T + b,  x'^T = ReLU(y^T)
    g^T = (2 / B) I (x' - t)^T [y > 0]                 (dL/dy)
    dL/dW2 = g h^T,  dL/dW1 = ([a > 0] W2^T g^T) x,  dL/db = sum_batch g

A NeuronModel ties W1 = W and W2 = W^T, so dL/dW = (dL/dW2)^T + dL/dW1.
Equal to autograd on the same batch (tests/test_fast_neuron.py).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch

from ..data import SignedFeatures, SparseFeatures, UniformStream


@torch.no_grad()
def two_layer_gradients(W1: torch.Tensor, W2: torch.Tensor, b: torch.Tensor, xT: torch.Tensor, tT: torch.Tensor,
                        importance: torch.Tensor, batch_size: int, with_loss: bool,
                        out: Tuple[torch.Tensor, ...], work: Tuple[torch.Tensor, ...]) -> Optional[torch.Tensor]:
    """Loss (or None) of h = ReLU(W1 x), x' = ReLU(W2 h + b) against the target t; writes the gradients into out.

    W1: (k, m, n); W2: (k, n, m), or W1's transpose (a view) for tied weights; b, importance: (k, n);
    xT, tT: (k, n, B), input and target with samples last (tT may be xT).
    out: (dL/dW1, dL/db) for tied weights (dL/dW1 then holds the whole dL/dW),
    else (dL/dW1, dL/dW2, dL/db). work: scratch tensors (k, m, B), (k, m, B), (k, n, B), (k, n, B).
    The loss is reconstruction_loss: the mean over samples of sum_i I_i (t_i - x'_i)^2.
    """
    tied = len(out) == 2
    grad_W1, grad_b = out[0], out[-1]
    aT, hT, yT, gT = work
    torch.bmm(W1, xT, out=aT)  # a^T: (k, m, B)
    torch.clamp_min(aT, 0, out=hT)  # h^T
    torch.baddbmm(b[:, :, None], W2, hT, out=yT)  # y^T: (k, n, B)
    loss = None
    if with_loss:
        error = yT.clamp_min(0).sub_(tT)
        loss = (error.square_().sum(dim=2) * importance).sum(dim=1) / batch_size
    torch.sub(yT, tT, out=gT)
    torch.ops.aten.threshold_backward.grad_input(gT, yT, 0.0, grad_input=gT)  # (y - t)^T, 0 where y <= 0
    gT.mul_(((2.0 / batch_size) * importance)[:, :, None])  # dL/dy^T
    torch.sum(gT, dim=2, out=grad_b)
    if tied:
        torch.bmm(hT, gT.transpose(1, 2), out=grad_W1)  # (dL/dW2)^T = h^T g: (k, m, n)
    else:
        torch.bmm(gT, hT.transpose(1, 2), out=out[1])  # dL/dW2 = g h^T: (k, n, m)
    dhT = torch.bmm(W2.transpose(1, 2), gT, out=hT)  # (dL/dh)^T: (k, m, B), over h^T, no longer needed
    daT = torch.ops.aten.threshold_backward.grad_input(dhT, aT, 0.0, grad_input=dhT)  # (dL/da)^T
    if tied:
        grad_W1.baddbmm_(daT, xT.transpose(1, 2))
    else:
        torch.bmm(daT, xT.transpose(1, 2), out=grad_W1)
    return loss


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
    out = out if out is not None else (W.new_empty(k, m, n), W.new_empty(k, n))
    work = work if work is not None else _work(k, m, n, xT.shape[2], xT.device)
    loss = two_layer_gradients(W, W.transpose(1, 2), b, xT, xT, importance, batch_size, with_loss, out, work)
    return loss, out[0], out[1]


def _work(k: int, m: int, n: int, batch_size: int, device) -> Tuple[torch.Tensor, ...]:
    return (torch.empty(k, m, batch_size, device=device), torch.empty(k, m, batch_size, device=device),
            torch.empty(k, n, batch_size, device=device), torch.empty(k, n, batch_size, device=device))


def group_size(n_instances: int, n_features: int, batch_size: int, target_bytes: int = 1 << 21) -> int:
    """Instances per group so that one (group, n_features, batch_size) float32 array is about 2 MB."""
    return max(1, min(n_instances, target_bytes // (4 * n_features * batch_size)))


def neuron_step(model, features: SparseFeatures, batch_size: int,
                seed: int) -> Callable[[bool], Optional[torch.Tensor]]:
    """A training step of a NeuronModel on fresh batches: sets W.grad and b.grad, returns the loss if asked.

    Each entry is one uniform number u, turned into the feature ReLU(1 - u / p)
    as in SparseFeatures.transform, here in the transposed layout.
    """
    return _two_layer_step(model, ("W", "b"), features, batch_size, seed, signed=False)


def computation_step(model, features: SignedFeatures, batch_size: int,
                     seed: int) -> Callable[[bool], Optional[torch.Tensor]]:
    """A training step of a ComputationModel on SignedFeatures: sets W1.grad, W2.grad and b.grad.

    Each entry is one uniform number u, turned into the feature (1 - 2 u / p) [u < p]
    as in SignedFeatures.transform, here in the transposed layout; the target is |x|.
    """
    return _two_layer_step(model, ("W1", "W2", "b"), features, batch_size, seed, signed=True)


def _two_layer_step(model, names: Tuple[str, ...], features: SparseFeatures, batch_size: int, seed: int,
                    signed: bool) -> Callable[[bool], Optional[torch.Tensor]]:
    parameters = [getattr(model, name) for name in names]
    device = parameters[0].device
    n_instances, n = model.n_instances, model.n_features
    importance = features.importance_matrix(n_instances, device).contiguous()
    p = features.probability(n_instances, device)[:, :, None]  # (I, n, 1)
    scale = (-2.0 if signed else -1.0) / p.clamp_min(1e-30)
    never = (p > 0).to(p.dtype) if (p == 0).any() else None  # u = 0 would count as active at p = 0
    rng = UniformStream(seed, device)
    group = group_size(n_instances, n, batch_size) if device.type == "cpu" else n_instances
    buffer = torch.empty(group, n, batch_size, device=device)
    target = torch.empty_like(buffer) if signed else None
    work = _work(group, model.n_hidden, n, batch_size, device)

    def step(with_loss: bool) -> Optional[torch.Tensor]:
        weights = [parameter.detach() for parameter in parameters]
        grads = [torch.empty_like(weight) for weight in weights]
        loss = torch.empty(n_instances, device=device) if with_loss else None
        for first in range(0, n_instances, group):
            last = min(first + group, n_instances)
            size = last - first
            xT = rng.fill(buffer if size == group else buffer[:size].contiguous())
            if signed:
                active = xT < p[first:last]
                xT.mul_(scale[first:last]).add_(1.0).mul_(active)
                tT = torch.abs(xT, out=target if size == group else target[:size])
            else:
                xT.mul_(scale[first:last]).add_(1.0).relu_()
                if never is not None:
                    xT.mul_(never[first:last])
                tT = xT
            scratch = work if size == group else tuple(t[:size] for t in work)
            part = [weight[first:last] for weight in weights]
            if signed:
                W1, W2, b = part
            else:
                (W1, b), W2 = part, part[0].transpose(1, 2)
            part_loss = two_layer_gradients(W1, W2, b, xT, tT, importance[first:last], batch_size, with_loss,
                                            tuple(grad[first:last] for grad in grads), scratch)
            if with_loss:
                loss[first:last] = part_loss
        for parameter, grad in zip(parameters, grads):
            parameter.grad = grad
        return loss

    return step
