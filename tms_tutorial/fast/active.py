"""Training on sparse data by touching only its active entries.

At density p a batch of B samples of n features holds about p B n non-zero
entries. The dense way of training (tms_tutorial.fast.dense) draws a uniform number for every entry and multiplies
the mostly-zero batch through W; here the work on the input side scales with
the number of active entries instead:

* ``ActiveSampler`` draws the positions of the active entries directly, as a
  Bernoulli process walked by geometric gaps (one draw per active entry, not
  per entry), and their values from U(0, 1]. Features of lower density than
  the instance's densest are thinned to their own density. The entries are
  independent Bernoulli(p_i) x uniform, exactly the distribution of
  tms_tutorial.data.SparseFeatures.
* ``active_gradients`` goes through G = W^T W: the output y = x G + b is a sum
  of a few rows of G per sample (an embedding bag), and dL/dG = x^T g sums rows
  of the output gradient g by feature. dL/dW = W (dL/dG + dL/dG^T).

``split_step`` trains a ToyModel whose sparse instances take this route
and whose dense ones take tms_tutorial.fast.dense.

The output side stays dense for the samples that hold an active feature:
every feature's reconstruction is penalized on every sample. The all-zero
samples, most of a sparse batch, share one output y = b, so their loss and
dL/db are counted once and multiplied by how many there are. train sends an
instance here when its densest feature is sparse enough that this is cheaper
(see ``prefers_active``); the loss and its gradients are those of the same batch
loss, so the objective is unchanged (tests/test_fast.py).
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_activation, check_positive_int
from ..data import SparseFeatures, UniformStream, chunk_size
from .dense import chunked_gradients


def prefers_active(p_max: torch.Tensor, n_features: int, n_hidden: int) -> torch.Tensor:
    """Whether the active-entry route is the cheaper one for instances of these densest densities.

    It pays once a sample holds fewer active features on average than about a
    half of the hidden dimension (measured on a 2-core CPU for n from 80 to
    400). For fewer than 64 features, or n < 3 m, the dense route is cheap
    anyway and the extra calls would cost more than they save.
    """
    if n_features < 64 or n_features < 3 * n_hidden:
        return torch.zeros_like(p_max, dtype=torch.bool)
    return p_max * n_features <= n_hidden / 2


class ActiveSampler:
    """Draws the active entries of batches for a group of instances.

    probability: (n_group, n_features) densities, on the CPU.
    Each call of ``sample`` returns a fresh batch of ``batch_size`` samples per
    instance as (rows, cols, values): rows index the stacked samples
    (instance k's sample r is row k * batch_size + r, in increasing order),
    cols the stacked features (k * n_features + i), values lie in (0, 1].
    """

    def __init__(self, probability: torch.Tensor, batch_size: int, seed: int) -> None:
        p = probability.detach().to("cpu", torch.float64).numpy()
        if p.ndim != 2 or not ((p >= 0) & (p <= 1)).all():
            raise ValueError(f"probability must be (n_group, n_features) densities in [0, 1]; got shape {p.shape}, "
                             f"values from {p.min() if p.size else 'none'} to {p.max() if p.size else 'none'}")
        batch_size = check_positive_int(batch_size, "batch_size")
        self.n_group, self.n_features = p.shape
        self.batch_size = batch_size
        self.p_max = p.max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.where(self.p_max[:, None] > 0, p / self.p_max[:, None], 0.0)
        self.keep = None if np.all(keep == 1.0) else keep.ravel()  # thinning, if features differ
        with np.errstate(divide="ignore"):
            self.log_q = np.log1p(-np.minimum(self.p_max, 1.0))  # log P(inactive); -inf when p = 1
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def _positions(self, k: int) -> np.ndarray:
        """Sorted flat positions (r * n + i) of instance k's active entries before thinning."""
        total = self.batch_size * self.n_features
        p = self.p_max[k]
        if p <= 0:
            return np.empty(0, dtype=np.int64)
        if p >= 1:
            return np.arange(total, dtype=np.int64)
        mean = p * total
        parts, end = [], -1
        while end < total - 1:
            count = int(mean + 6 * math.sqrt(mean) + 16)
            u = 1.0 - self.rng.random(count)  # (0, 1]
            gaps = np.floor(np.log(u) / self.log_q[k]).astype(np.int64) + 1
            positions = end + np.cumsum(gaps)
            parts.append(positions)
            end = positions[-1]
        positions = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return positions[: np.searchsorted(positions, total)]

    def sample(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, batch = self.n_features, self.batch_size
        flats = [self._positions(k) + k * batch * n for k in range(self.n_group)]
        flat = np.concatenate(flats)  # k * B * n + r * n + i, increasing
        if self.keep is not None:
            stacked_feature = (flat // (batch * n)) * n + flat % n
            flat = flat[self.rng.random(flat.size) < self.keep[stacked_feature]]
        rows = flat // n
        cols = (rows // batch) * n + flat % n
        values = 1.0 - self.rng.random(flat.size, dtype=np.float32)
        return torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(values)


@torch.no_grad()
def active_gradients(
    W: torch.Tensor,
    b: torch.Tensor,
    importance: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    values: torch.Tensor,
    batch_size: int,
    activation: str,
    with_loss: bool = False,
) -> Tuple[Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Loss and gradients of ToyModel instances on a batch given by its active entries.

    W: (k, m, n), b and importance: (k, n); rows, cols, values as ActiveSampler
    returns them for these k instances. The loss is reconstruction_loss of the
    batch (mean over its batch_size samples of sum_i I_i (x_i - x'_i)^2).
    Returns (loss (k,) or None, dL/dW (k, m, n), dL/db (k, n)).
    """
    check_activation(activation)
    k, _, n = W.shape
    G = torch.bmm(W.transpose(1, 2), W)  # (k, n, n)
    # Only the samples with an active feature are computed row by row. The rest
    # (most of a sparse batch) all have x = 0 and output y = b: their loss and
    # dL/db are their count times those of one such sample.
    kept, compact, counts = torch.unique_consecutive(rows, return_inverse=True, return_counts=True)
    instance = kept // batch_size  # (R,) the instance of each computed sample, in increasing order
    computed = torch.bincount(instance, minlength=k)  # (k,)
    offsets = torch.cumsum(counts, 0) - counts
    y = F.embedding_bag(cols, G.reshape(k * n, n), offsets, mode="sum", per_sample_weights=values)  # x G: (R, n)
    end = 0
    for j, size in enumerate(computed.tolist()):  # + b, instance by instance (cheaper than a gather)
        y[end:end + size].add_(b[j])
        end += size
    position = compact * n + cols % n  # each active entry's place in y (no place holds two)
    if activation == "relu":
        y.clamp_min_(0)  # x'
        dead = position[y.view(-1)[position] <= 0]  # active entries the ReLU zeroes: g = 0 there
    error = y  # x' - x, in place:
    error.view(-1).index_add_(0, position, values, alpha=-1.0)
    empty = batch_size - computed.to(b.dtype)  # (k,) samples with x = 0
    error_empty = b.clamp_min(0) if activation == "relu" else b  # their x' - x: (k, n)
    loss = None
    if with_loss:
        squares = torch.zeros(k, n, dtype=b.dtype).index_add_(0, instance, error.square())
        loss = ((squares + empty[:, None] * error_empty.square()) * importance).sum(dim=1) / batch_size
    g = error  # dL/dy / scale: x' - x where y > 0; elsewhere x' = 0 and x = 0 but for the dead entries
    if activation == "relu":
        g.view(-1)[dead] = 0.0
    scale = (2.0 / batch_size) * importance  # dL/dy = g scale; scale is applied after the sums over samples
    grad_b = torch.zeros(k, n, dtype=b.dtype).index_add_(0, instance, g).add_(empty[:, None] * error_empty)
    grad_b.mul_(scale)
    # dL/dG = x^T g: for each feature, the sum of g's rows where it is active, weighted by its value.
    order = _stable_argsort(cols, k * n)
    col_counts = torch.bincount(cols, minlength=k * n)
    col_offsets = torch.cumsum(col_counts, 0) - col_counts
    grad_G = F.embedding_bag(
        compact[order], g, col_offsets, mode="sum", per_sample_weights=values[order]
    ).view(k, n, n).mul_(scale[:, None, :])
    grad_W = torch.bmm(W, grad_G + grad_G.transpose(1, 2))
    return loss, grad_W, grad_b


def _stable_argsort(keys: torch.Tensor, bound: int) -> torch.Tensor:
    """argsort of non-negative int64 keys below bound, stable; numpy's radix sort when they fit 16 bits."""
    if bound <= 1 << 16:
        return torch.from_numpy(np.argsort(keys.numpy().astype(np.uint16), kind="stable"))
    return torch.sort(keys, stable=True)[1]


def split_step(model, features: SparseFeatures, batch_size: int, seed: int, active: torch.Tensor
               ) -> Callable[[bool], Optional[torch.Tensor]]:
    """A training step of a ToyModel on the CPU: ``active`` instances (a bool mask) by their
    active entries, the rest dense and chunked. Sets W.grad and b.grad; returns the loss if asked."""
    importance = features.importance_matrix(model.n_instances).contiguous()
    sparse_index = active.nonzero().squeeze(1)
    dense_index = (~active).nonzero().squeeze(1)
    probability = features.probability(model.n_instances)
    sampler = ActiveSampler(probability[sparse_index], batch_size, seed)
    group = max(1, (1 << 22) // (4 * batch_size * model.n_features))  # instances whose (B, n) output would be ~4 MB
    if len(dense_index):
        dense_features = SparseFeatures(model.n_features, probability[dense_index], importance[dense_index])
        rng = UniformStream(seed)
        buffer = torch.empty(len(dense_index), chunk_size(len(dense_index), model.n_features, batch_size),
                             model.n_features)

    def step(with_loss: bool) -> Optional[torch.Tensor]:
        W, b = model.W.detach(), model.b.detach()
        grad_W, grad_b = torch.empty_like(W), torch.empty_like(b)
        loss = torch.zeros(model.n_instances) if with_loss else None
        if len(dense_index):
            dense_loss, grad_W[dense_index], grad_b[dense_index] = chunked_gradients(
                W[dense_index], b[dense_index], dense_features, importance[dense_index], rng, buffer, batch_size,
                model.activation, with_loss)
            if with_loss:
                loss[dense_index] = dense_loss
        rows, cols, values = sampler.sample()
        bounds = torch.searchsorted(rows, torch.arange(0, len(sparse_index) + 1) * batch_size).tolist()
        for first in range(0, len(sparse_index), group):  # a few instances at a time, for the caches
            last = min(first + group, len(sparse_index))
            index, lo, hi = sparse_index[first:last], bounds[first], bounds[last]
            group_loss, grad_W[index], grad_b[index] = active_gradients(
                W[index], b[index], importance[index],
                rows[lo:hi] - first * batch_size, cols[lo:hi] - first * model.n_features, values[lo:hi],
                batch_size, model.activation, with_loss,
            )
            if with_loss:
                loss[index] = group_loss
        model.W.grad, model.b.grad = grad_W, grad_b
        return loss

    return step
