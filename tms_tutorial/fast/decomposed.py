"""The decomposed loss: a ToyModel of a few features trained on closed forms plus strata.

Paper section "Mathematical Understanding":

    L = P(no feature active) L_0 + sum_j P(only feature j active) L_{j}
        + E[loss of a sample; two or more features active]

L_0 and every L_{j} have closed forms (tms_tutorial.theory); only the last
term needs sampling. For models with few features most samples have at most
one active feature, so sampling just the rest gives an unbiased estimate of
the same expected loss at a fraction of the cost, and with less noise.
``decomposed_step`` trains on it: ``exact_part`` (through autograd) plus
``sampled_part_gradients`` of the rows a ``PatternSampler`` draws;
``decomposed_loss`` evaluates a model the same way, every stratum sampled
(``stratified_part``).
"""

from __future__ import annotations

import itertools
from typing import Callable, Optional, Tuple

import torch

from .._checks import check_positive_int, check_same_features
from ..data import SparseFeatures, UniformStream
from ..theory import loss_at_most_one_active

MAX_FEATURES = 4  # sampling enumerates the 2^n activity patterns


def _patterns(n: int, device) -> torch.Tensor:
    """Every activity pattern with at least two active features: (n_patterns, n) of 0/1."""
    rows = [bits for bits in itertools.product((0.0, 1.0), repeat=n) if sum(bits) >= 2]
    return torch.tensor(rows, device=device)


def _pattern_probability(features: SparseFeatures, n_instances: int, patterns: torch.Tensor) -> torch.Tensor:
    """P(exactly the features of each pattern are active): (n_instances, n_patterns)."""
    p = features.probability(n_instances, patterns.device)[:, None, :]
    return (p * patterns + (1 - p) * (1 - patterns)).prod(dim=2)


def exact_part(model, features: SparseFeatures) -> torch.Tensor:
    """P(none active) L_0 + sum_j P(only j active) L_{j} of a ToyModel, differentiable: (n_instances,)."""
    check_same_features(model, features)
    W = model.W
    p = features.probability(model.n_instances, W.device)
    importance = features.importance_matrix(model.n_instances, W.device)
    return loss_at_most_one_active(W, model.b, p, importance, model.activation)


class PatternSampler:
    """Samples with two or more active features, as many as a batch would hold.

    For each instance and each activity pattern A with |A| >= 2 the count is
    Binomial(batch_size, P(A)); the active values are uniform. Rows come out
    grouped by instance.
    """

    def __init__(self, features: SparseFeatures, n_instances: int, batch_size: int, seed: int, device) -> None:
        n = features.n_features
        if n > MAX_FEATURES:
            raise ValueError(f"patterns are enumerated only for n_features <= {MAX_FEATURES}; got {n}")
        self.patterns = _patterns(n, device)  # (P, n)
        self.prob = _pattern_probability(features, n_instances, self.patterns)  # (I, P)
        self.trials = torch.full_like(self.prob, float(batch_size))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.rng = UniformStream(seed, device)
        self.instances = torch.arange(n_instances, device=device)
        self.pattern_of_cell = torch.arange(len(self.patterns), device=device).repeat(n_instances)

    def sample(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This step's rows: instance (R,) sorted, x (R, n), and rows per instance (I,)."""
        n = self.patterns.shape[1]
        counts = torch.binomial(self.trials, self.prob, generator=self.generator).long()  # (I, P)
        lengths = counts.sum(dim=1)
        instance = torch.repeat_interleave(self.instances, lengths)
        x = self.rng.fill(torch.empty(instance.shape[0], n, device=instance.device))
        if len(self.patterns) > 1:  # for n = 2 the one pattern has every feature active
            pattern = torch.repeat_interleave(self.pattern_of_cell, counts.reshape(-1))
            x.mul_(self.patterns.index_select(0, pattern))
        return instance, x, lengths


@torch.no_grad()
def sampled_part_gradients(
    model, importance: torch.Tensor, instance: torch.Tensor, x: torch.Tensor, lengths: torch.Tensor, batch_size: int
):
    """Loss and gradients of the sampled rows' share, (1/B) sum over rows of their loss.

    instance: (R,) sorted; x: (R, n); lengths: (I,) rows per instance. Written
    out by hand as in ToyModel.accumulate_gradients, with elementwise products
    (m and n are small) and a sum over each instance's run of rows.
    Returns loss (I,), grad_W (I, m, n), grad_b (I, n).
    """
    W, b = model.W, model.b
    n_instances, m, n = W.shape
    Wr = W.index_select(0, instance)  # (R, m, n)
    h = _sum(Wr * x[:, None, :], dim=2)  # (R, m)
    y = _sum(Wr * h[:, :, None], dim=1).add_(b.index_select(0, instance))  # (R, n)
    Ir = importance.index_select(0, instance)
    g = y - x
    if model.activation == "relu":
        torch.ops.aten.threshold_backward.grad_input(g, y, 0.0, grad_input=g)
        error = y.clamp_min_(0).sub_(x)
    else:
        error = g.clone()
    row_loss = _sum(error.mul_(error).mul_(Ir), dim=1)
    g.mul_(Ir).mul_(2.0 / batch_size)  # dL/dy
    dh = _sum(Wr * g[:, None, :], dim=2)  # (R, m)
    grad_rows = (h[:, :, None] * g[:, None, :]).addcmul_(dh[:, :, None], x[:, None, :])  # (R, m, n)

    def per_instance(t: torch.Tensor) -> torch.Tensor:
        return torch.segment_reduce(t, "sum", lengths=lengths, unsafe=True)

    grad_W = per_instance(grad_rows.reshape(-1, m * n)).reshape(n_instances, m, n)
    return per_instance(row_loss) / batch_size, grad_W, per_instance(g)


@torch.no_grad()
def stratified_part(model, features: SparseFeatures, samples: int, seed: int = 0, chunk_bytes: int = 1 << 24) -> torch.Tensor:
    """E[loss; two or more features active] by strata: (n_instances,).

    For each activity pattern A with |A| >= 2, ``samples`` draws of its active
    values give E[loss | A], weighted by P(A). Unlike a plain batch, every
    pattern is sampled as precisely at density 0.01 as at density 1, which is
    what ranking sparse fits needs. Unbiased; use with exact_part for the whole loss.
    """
    check_same_features(model, features)
    samples = check_positive_int(samples, "samples")
    W = model.W
    n_instances, n = W.shape[0], W.shape[2]
    device = W.device
    patterns = _patterns(n, device)  # (P, n)
    prob = _pattern_probability(features, n_instances, patterns)  # (I, P)
    importance = features.importance_matrix(n_instances, device)
    rng = UniformStream(seed, device)
    rows = max(1, min(samples, chunk_bytes // (4 * n * n_instances)))
    total = torch.zeros(n_instances, device=device)
    for k, pattern in enumerate(patterns):
        mean = torch.zeros(n_instances, device=device)
        for start in range(0, samples, rows):
            size = min(rows, samples - start)
            x = rng.fill(torch.empty(n_instances, size, n, device=device)).mul_(pattern)
            out = model(x)
            mean += ((out - x) ** 2 * importance[:, None, :]).sum(dim=(1, 2))
        total += prob[:, k] * mean / samples
    return total


def _sum(t: torch.Tensor, dim: int) -> torch.Tensor:
    """t.sum(dim), unrolled into additions for the short dimensions of small models (faster)."""
    if t.shape[dim] > 4:
        return t.sum(dim=dim)
    parts = t.unbind(dim)
    total = parts[0].clone()
    for part in parts[1:]:
        total.add_(part)
    return total


def decomposed_step(model, features: SparseFeatures, batch_size: int, seed: int
                    ) -> Callable[[bool], Optional[torch.Tensor]]:
    """A training step on the decomposed loss estimate: sets W.grad and b.grad, returns the estimate if asked."""
    importance = features.importance_matrix(model.n_instances, model.W.device).contiguous()
    sampler = PatternSampler(features, model.n_instances, batch_size, seed, importance.device)

    def step(with_loss: bool) -> Optional[torch.Tensor]:
        exact = exact_part(model, features)  # (I,)
        exact.sum().backward()
        sampled, grad_W, grad_b = sampled_part_gradients(model, importance, *sampler.sample(), batch_size)
        model.W.grad.add_(grad_W)
        model.b.grad.add_(grad_b)
        return (exact.detach() + sampled) if with_loss else None

    return step


@torch.no_grad()
def decomposed_loss(model, features: SparseFeatures, samples: int, seed: int) -> torch.Tensor:
    """The expected loss: exact_part plus stratified_part with ``samples`` draws per stratum: (n_instances,)."""
    return exact_part(model, features) + stratified_part(model, features, samples, seed)
