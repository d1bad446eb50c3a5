"""Closed forms: expected losses of toy models and of candidate solutions.

Paper sections "Mathematical Understanding" and "Superposition as a Phase
Change". Nothing here trains or samples; tms_tutorial.fast builds its
decomposed loss on the closed forms below, and the chapters compare them with
trained models.

The loss by which features are active:

    L = P(no feature active) L_0 + sum_j P(only feature j active) L_{j} + (two or more active)

L_0 (``empty_loss``) and every L_{j} (``single_feature_loss``) are integrals
over one uniform value and have closed forms (``relu_moments``);
``loss_at_most_one_active`` weighs them by their probabilities.

Features are independent: each is active with probability p and then uniform
on [0, 1], so E[x] = p/2, E[x^2] = p/3 and Var x = p/3 - p^2/4. All functions
broadcast over tensors of densities and importances.

Building blocks of every candidate of the small models:

* a feature with its own dimension, W_i a unit vector orthogonal to the
  others, is reconstructed exactly: loss 0;
* a dropped feature (W_i = 0) is best answered by its mean, b_i = p/2: loss
  I_i Var x_i (``dropped_loss``);
* two features sharing one direction as an antipodal pair, W = [a, -c] along
  it: ``pair_loss`` of the four numbers (a, c, b_1, b_2), exact up to a 1-D
  quadrature; ``antipodal_loss`` at a = c = 1, b = 0 in closed form; and
  ``best_pair_loss`` at the best four numbers that still make a pair,
  found numerically. Deep in the pair's region the two agree within 1%; near
  its boundary the tuned pair is cheaper by 10-20% on chapter 2's grid, which
  moves the boundary towards denser features.

Not every W = [a, -c] is superposition. With biases near p/2 and lengths near
0.71 the ReLU never cuts anything off and the model is linear: it stores the
one combination x_1 - x_2, the principal component a linear model would keep
for two equally important features, at the loss of dropping one of them
(exactly 1/12 at p = 1). A pair counts as superposition only when the ReLU
filters the interference: for each of the two outputs, the other feature's
interference is cut off over at least half of its range
(``filtered_share``). ``classify_n2`` and ``classify_n3`` call a shared
direction that fails this test a "linear mix" (``LINEAR_MIX``).

Blocks in mutually orthogonal directions do not interact, so a candidate's
loss is the sum of its blocks' losses. For n = 2, m = 1 the candidates are
feature 1 alone, feature 2 alone, or both as an antipodal pair; for n = 3,
m = 2 the four of the paper, named by the null space of W (``N3_CANDIDATES``).
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np
import torch

from ._checks import check_activation, check_between, check_number, check_positive_int


N2_CANDIDATES = ("feature 1 only", "feature 2 only", "antipodal pair")
# Two represented features sharing one direction while the ReLU passes their interference: not
# superposition. Dense, the linear, principal-component-like solution; sparse, a poor local
# minimum in which both point the same way.
LINEAR_MIX = "linear mix"
# n = 3, m = 2, features 1 and 2 of importance 1, feature 3 of relative importance r.
# Named by the null space of W: the direction the model cannot see.
N3_CANDIDATES = ("W ⊥ [0,0,1]", "W ⊥ [1,0,0]", "W ⊥ [0,1,1]", "W ⊥ [1,1,0]")
N3_DESCRIPTIONS = {
    "W ⊥ [0,0,1]": "features 1 and 2 orthogonal, feature 3 dropped",
    "W ⊥ [1,0,0]": "feature 1 dropped, features 2 and 3 orthogonal",
    "W ⊥ [0,1,1]": "feature 1 alone, features 2 and 3 an antipodal pair",
    "W ⊥ [1,1,0]": "features 1 and 2 an antipodal pair, feature 3 alone",
}


def _tensor(value, name: str = "value") -> torch.Tensor:
    """value as a float64 tensor (numbers, arrays, tensors); refused if not numeric or not finite."""
    try:
        tensor = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a number or an array of numbers; got {type(value).__name__}") from exc
    if not torch.isfinite(tensor.detach()).all():
        raise ValueError(f"{name} must be finite; it holds NaN or infinite values")
    return tensor


def _finite(value, name: str) -> torch.Tensor:
    """value as a tensor, kept in its own floating dtype (autograd intact); refused if not finite."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        return _tensor(value, name)
    if not torch.isfinite(value.detach()).all():
        raise ValueError(f"{name} must be finite; it holds NaN or infinite values")
    return value


def _check_model_arrays(W: torch.Tensor, b: torch.Tensor, importance: torch.Tensor, p=None):
    """The shapes the closed-form losses take: W (I, m, n); b, importance (and p) (I, n)."""
    W, b, importance = _finite(W, "W"), _finite(b, "b"), _finite(importance, "importance")
    if W.dim() != 3 or W.shape[0] == 0 or W.shape[2] == 0:
        raise ValueError(f"W must have shape (n_instances, n_hidden, n_features); got {tuple(W.shape)}")
    expected = (W.shape[0], W.shape[2])
    for value, name in ((b, "b"), (importance, "importance")):
        if tuple(value.shape) != expected:
            raise ValueError(f"{name} must have shape (n_instances, n_features) = {expected}; got {tuple(value.shape)}")
    _check_importance(importance.detach(), "importance")
    if p is not None:
        p = _finite(p, "p")
        if tuple(p.shape) != expected:
            raise ValueError(f"p must have shape (n_instances, n_features) = {expected}; got {tuple(p.shape)}")
        _check_density(p.detach())
    return W, b, importance, p


def _check_density(p: torch.Tensor) -> None:
    if ((p < 0) | (p > 1)).any() or not torch.isfinite(p).all():
        raise ValueError("p (the feature density 1 - S) must lie in [0, 1]")


def _check_importance(importance: torch.Tensor, name: str) -> None:
    if (importance < 0).any() or not torch.isfinite(importance).all():
        raise ValueError(f"{name} must be a finite importance >= 0")


def relu_moments(a: torch.Tensor, c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """E[ReLU(a u + c)^2] and E[u ReLU(a u + c)] for u ~ U[0, 1], elementwise.

    ReLU(a u + c) is non-zero on one interval [s, t] of [0, 1]; on it the
    integrands are polynomials in u. Differentiable in a and c: the interval's
    moving end is where the integrand vanishes, so it adds nothing to the derivative.
    """
    a, c = _finite(a, "a"), _finite(c, "c")
    try:
        a, c = torch.broadcast_tensors(a, c)
    except RuntimeError as exc:
        raise ValueError(f"a and c must have shapes that broadcast; got {tuple(a.shape)} and {tuple(c.shape)}") from exc
    small = a.abs() < 1e-12
    a_safe = torch.where(small, torch.ones_like(a), a)
    root = (-c / a_safe).clamp(0.0, 1.0)
    s = torch.where(small, torch.zeros_like(a), torch.where(a > 0, root, torch.zeros_like(a)))
    t = torch.where(small, (c > 0).to(a.dtype), torch.where(a > 0, torch.ones_like(a), root))
    d1, d2, d3 = t - s, (t**2 - s**2) / 2, (t**3 - s**3) / 3
    square = a * a * d3 + 2 * a * c * d2 + c * c * d1
    first = a * d3 + c * d2
    return square, first


def polynomial_moments(a: torch.Tensor, c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """E[(a u + c)^2] and E[u (a u + c)] for u ~ U[0, 1] (the linear model's versions)."""
    a, c = _finite(a, "a"), _finite(c, "c")
    return a * a / 3 + a * c + c * c, a / 3 + c / 2


def empty_loss(b: torch.Tensor, importance: torch.Tensor, activation: str) -> torch.Tensor:
    """L_0 = sum_i I_i x'_i^2 when x = 0, i.e. sum_i I_i ReLU(b_i)^2 (or b_i^2): (I, n) -> (I,)."""
    b, importance = _finite(b, "b"), _finite(importance, "importance")
    if b.dim() != 2 or tuple(importance.shape) != tuple(b.shape):
        raise ValueError(f"b and importance must both have shape (n_instances, n_features); got {tuple(b.shape)} "
                         f"and {tuple(importance.shape)}")
    _check_importance(importance.detach(), "importance")
    out = torch.relu(b) if check_activation(activation) == "relu" else b
    return (importance * out**2).sum(dim=1)


def single_feature_loss(W: torch.Tensor, b: torch.Tensor, importance: torch.Tensor, activation: str) -> torch.Tensor:
    """L_{j} = E_u[loss | only feature j active, with value u ~ U[0, 1]]: (n_instances, n_features j).

    W: (I, m, n); b, importance: (I, n). With x = u e_j, x'_i = act(u (W_i . W_j) + b_i):
    feature j is reconstructed (its "feature benefit") while every other feature i sees
    interference u W_i . W_j.
    """
    W, b, importance, _ = _check_model_arrays(W, b, importance)
    G = W.transpose(1, 2) @ W  # (I, n, n): G[k, i, j] = W_i . W_j
    c = b[:, :, None].expand_as(G)  # bias of output i
    moments = relu_moments if check_activation(activation) == "relu" else polynomial_moments
    square, first = moments(G, c)  # E[x'_i^2], E[u x'_i] for each (i, j)
    n = W.shape[2]
    eye = torch.eye(n, dtype=W.dtype, device=W.device)
    # (u - x'_j)^2 for the active feature, x'_i^2 for the others; E[u^2] = 1/3.
    per_output = square + eye * (1.0 / 3 - 2 * first)
    return (importance[:, :, None] * per_output).sum(dim=1)


def benefit_and_interference(W: torch.Tensor, b: torch.Tensor, importance: torch.Tensor,
                             activation: str = "relu") -> Tuple[torch.Tensor, torch.Tensor]:
    """L_{j} split in two, each (n_instances, n_features j): feature benefit and interference.

    benefit_j = I_j E_u[(x'_j - u)^2], the error on the active feature itself;
    interference_j = sum_{i != j} I_i E_u[x'_i^2], what the other outputs pay
    for it. Their sum is single_feature_loss. W: (I, m, n); b, importance: (I, n).
    """
    W, b, importance, _ = _check_model_arrays(W, b, importance)
    G = W.transpose(1, 2) @ W
    moments = relu_moments if check_activation(activation) == "relu" else polynomial_moments
    square, first = moments(G, b[:, :, None].expand_as(G))  # [k, i, j]: output i when only j is active
    diagonal = torch.diagonal(square, dim1=1, dim2=2) - 2 * torch.diagonal(first, dim1=1, dim2=2) + 1.0 / 3
    eye = torch.eye(W.shape[2], dtype=W.dtype, device=W.device)
    return importance * diagonal, (importance[:, :, None] * square * (1 - eye)).sum(dim=1)


def loss_at_most_one_active(W: torch.Tensor, b: torch.Tensor, p: torch.Tensor, importance: torch.Tensor,
                            activation: str) -> torch.Tensor:
    """P(none active) L_0 + sum_j P(only j active) L_{j}, differentiable: (n_instances,).

    W: (I, m, n); b, p (densities), importance: (I, n). The part of a toy model's
    expected loss from samples with at most one active feature.
    """
    W, b, importance, p = _check_model_arrays(W, b, importance, p)
    q = 1 - p
    n = q.shape[1]
    others = torch.stack([torch.cat([q[:, :j], q[:, j + 1:]], dim=1).prod(dim=1) for j in range(n)], dim=1)
    none_active = q.prod(dim=1)  # (I,)
    only_one = p * others  # (I, n): P(only j active), without dividing by q_j
    loss = none_active * empty_loss(b, importance, activation)
    return loss + (only_one * single_feature_loss(W, b, importance, activation)).sum(dim=1)


def feature_variance(p) -> torch.Tensor:
    """Var x for a feature of density p: p/3 - p^2/4."""
    p = _tensor(p, "p")
    _check_density(p)
    return p / 3 - p**2 / 4


def dropped_loss(p, importance=1.0) -> torch.Tensor:
    """Loss of a feature with W_i = 0 and the best bias b_i = p/2: I_i (p/3 - p^2/4)."""
    importance = _tensor(importance, "importance")
    _check_importance(importance, "importance")
    return importance * feature_variance(p)


def antipodal_loss(p, importance_1=1.0, importance_2=1.0) -> torch.Tensor:
    """Loss of the antipodal pair W = [1, -1], b = 0: p^2 (I_1 + I_2) / 6.

    Alone, either feature is reconstructed exactly (the other output is ReLU of
    a negative number, 0). Both active, with values u and v, the smaller one's
    output is 0 and the larger one's is off by the smaller value, so each
    feature's error is min(u, v)^2, of mean 1/6.
    """
    p, i1, i2 = _tensor(p, "p"), _tensor(importance_1, "importance_1"), _tensor(importance_2, "importance_2")
    _check_density(p)
    _check_importance(i1, "importance_1")
    _check_importance(i2, "importance_2")
    return p**2 * (i1 + i2) / 6


def _gauss_legendre(panels: int = 16, order: int = 8) -> Tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights of a composite Gauss-Legendre rule on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(0.0, 1.0, panels + 1)
    nodes = (edges[:-1, None] + (x[None, :] + 1) / 2 * np.diff(edges)[:, None]).ravel()
    weights = (w[None, :] / 2 * np.diff(edges)[:, None]).ravel()
    return torch.as_tensor(nodes), torch.as_tensor(weights)


_NODES, _WEIGHTS = _gauss_legendre()


def _own_error(slope: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """E_u[(ReLU(slope u + offset) - u)^2] for u ~ U[0, 1]."""
    square, first = relu_moments(slope, offset)
    return square - 2 * first + 1.0 / 3


def filtered_share(overlap, b) -> torch.Tensor:
    """Share of u in [0, 1] for which the ReLU cuts off interference overlap * u + b: elementwise.

    An output whose bias is b and whose feature overlaps the active one by
    overlap = W_i . W_j sees ReLU(overlap u + b) when that feature alone is active with
    value u. The ReLU filters the interference where overlap u + b <= 0: everywhere
    for a negative overlap and b <= 0, from u = b / |overlap| on for a negative overlap
    and a positive b, and nowhere for a positive overlap and b >= 0.
    """
    g, b = torch.broadcast_tensors(_tensor(overlap, "overlap"), _tensor(b, "b"))
    safe = torch.where(g == 0, torch.ones_like(g), g)
    root = (-b / safe).clamp(0.0, 1.0)  # where overlap u + b crosses zero
    share = torch.where(g < 0, 1 - root, root)
    return torch.where(g == 0, (b <= 0).to(g.dtype), share)


def pair_filters(a, c, b_1, b_2, share: float = 0.5) -> torch.Tensor:
    """Whether W = [a, -c] with biases b_1, b_2 is superposition: both features represented.

    True where both lengths are at least 0.5 (the classifiers' threshold) and the ReLU
    cuts off the other feature's interference over at least ``share`` of its range, for
    both outputs (filtered_share). False for the linear, principal-component-like
    solution (a = c = 0.71, b = p/2: nothing is cut off).
    """
    a, c, b_1, b_2 = (_tensor(v, name) for v, name in zip((a, c, b_1, b_2), ("a", "c", "b_1", "b_2")))
    share = check_between(share, "share", 0, 1)
    overlap = -a * c
    return ((a.abs() >= 0.5) & (c.abs() >= 0.5) & (filtered_share(overlap, b_1) >= share)
            & (filtered_share(overlap, b_2) >= share))


def pair_loss(a, c, b_1, b_2, p, importance_1=1.0, importance_2=1.0) -> torch.Tensor:
    """Expected loss of two features sharing one direction: W = [a, -c], biases b_1, b_2.

    x'_1 = ReLU(a^2 x_1 - a c x_2 + b_1), x'_2 = ReLU(c^2 x_2 - a c x_1 + b_2). By which
    features are active:
        none:     (1-p)^2 [I_1 ReLU(b_1)^2 + I_2 ReLU(b_2)^2]
        only 1:   p(1-p) [I_1 E(ReLU(a^2 u + b_1) - u)^2 + I_2 E ReLU(b_2 - a c u)^2]
        only 2:   the same with the roles swapped
        both:     p^2 [I_1 E_v E_u (ReLU(a^2 u + b_1 - a c v) - u)^2 + (the same for 2)]
    Every inner expectation over one uniform value is in closed form
    (relu_moments); the outer one of the last line is a
    Gauss-Legendre quadrature, accurate to about 1e-7. Differentiable in a, c, b.
    """
    a, c, b_1, b_2 = (_tensor(v, name) for v, name in zip((a, c, b_1, b_2), ("a", "c", "b_1", "b_2")))
    p, i1, i2 = _tensor(p, "p"), _tensor(importance_1, "importance_1"), _tensor(importance_2, "importance_2")
    _check_density(p)
    _check_importance(i1, "importance_1")
    _check_importance(i2, "importance_2")
    cross = -a * c
    none = i1 * torch.relu(b_1) ** 2 + i2 * torch.relu(b_2) ** 2
    only_1 = i1 * _own_error(a * a, b_1) + i2 * relu_moments(cross, b_2)[0]
    only_2 = i2 * _own_error(c * c, b_2) + i1 * relu_moments(cross, b_1)[0]
    v = _NODES.reshape((-1,) + (1,) * max(a.dim(), c.dim(), b_1.dim(), b_2.dim()))
    w = _WEIGHTS.reshape(v.shape)
    both_1 = (w * _own_error(a * a, b_1 + cross * v)).sum(dim=0)
    both_2 = (w * _own_error(c * c, b_2 + cross * v)).sum(dim=0)
    both = i1 * both_1 + i2 * both_2
    return (1 - p) ** 2 * none + p * (1 - p) * (only_1 + only_2) + p**2 * both


def optimize_pair(p, importance_1=1.0, importance_2=1.0, steps: int = 600) -> Tuple[torch.Tensor, torch.Tensor]:
    """pair_loss minimized over (a, c, b_1, b_2), whatever the minimum turns out to be.

    Adam from the closed form's point W = [1, -1], b = 0, every point of the
    broadcast inputs at once (each point's numbers only move its own loss).
    Returns (loss, params) with params[..., :] = (a, c, b_1, b_2). Dense and near
    equal importance the minimum is not superposition (see best_pair_loss).
    """
    p, i1, i2 = torch.broadcast_tensors(_tensor(p, "p"), _tensor(importance_1, "importance_1"),
                                        _tensor(importance_2, "importance_2"))
    _check_density(p)
    _check_importance(i1, "importance_1")
    _check_importance(i2, "importance_2")
    check_positive_int(steps, "steps")
    params = torch.zeros(p.shape + (4,), dtype=torch.float64)
    params[..., :2] = 1.0
    params.requires_grad_(True)
    optimizer = torch.optim.Adam([params], lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        pair_loss(*params.unbind(-1), p, i1, i2).sum().backward()
        optimizer.step()
    found = params.detach()
    with torch.no_grad():
        return pair_loss(*found.unbind(-1), p, i1, i2), found


def best_pair_loss(p, importance_1=1.0, importance_2=1.0, steps: int = 600) -> Tuple[torch.Tensor, torch.Tensor]:
    """The antipodal pair at its best: pair_loss minimized over (a, c, b_1, b_2), if that is superposition.

    The minimum is optimize_pair's. Near the phase boundary small positive biases
    and unequal lengths lower the pair's loss (a positive bias offsets the other
    feature's negative interference when both are active, at the cost of passing
    some of it when one is): by 11% at p = 0.48, r = 0.55 and by 20% at p = 0.62,
    r = 0.89. Where what the optimizer finds is no longer superposition (pair_filters: a
    length below 0.5, so it has collapsed into dropping a feature, or biases so
    large that the ReLU passes most interference, the linear mix of a dense pair of
    nearly equal importance), the closed form is returned instead.
    Returns (loss, params) with params[..., :] = (a, c, b_1, b_2).
    """
    loss, found = optimize_pair(p, importance_1, importance_2, steps)
    p, i1, i2 = torch.broadcast_tensors(_tensor(p, "p"), _tensor(importance_1, "importance_1"),
                                        _tensor(importance_2, "importance_2"))
    simple = antipodal_loss(p, i1, i2)
    kept = pair_filters(*found.unbind(-1)) & (loss <= simple)
    start = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    return torch.where(kept, loss, simple), torch.where(kept[..., None], found, start)


def linear_loss(W, b, p, importance) -> torch.Tensor:
    """Exact expected loss of the linear model x' = W^T W x + b.

    W: (..., m, n); b, importance: (..., n); p: scalar or (..., n). With
    A = I - W^T W, each output's error is sum_j A_ij x_j - b_i, so
        L = sum_i I_i [sum_j A_ij^2 Var x_j + (sum_j A_ij E x_j - b_i)^2].
    With the best biases the second term vanishes, leaving the paper's
        sum_i I_i (1 - |W_i|^2)^2 Var x + sum_{i != j} I_i (W_i . W_j)^2 Var x
    (for a shared density): interference costs in proportion to Var x at
    every density, which is why a linear model never superposes.
    """
    W, b, importance = _tensor(W, "W"), _tensor(b, "b"), _tensor(importance, "importance")
    p = _tensor(p, "p")
    _check_density(p)
    _check_importance(importance, "importance")
    n = W.shape[-1]
    A = torch.eye(n, dtype=W.dtype) - W.transpose(-1, -2) @ W
    p = p.expand(b.shape) if p.dim() < b.dim() or p.shape != b.shape else p
    variance = p / 3 - p**2 / 4
    mean = p / 2
    spread = (A**2 * variance[..., None, :]).sum(dim=-1)
    offset = (A * mean[..., None, :]).sum(dim=-1) - b
    return (importance * (spread + offset**2)).sum(dim=-1)


def n2_candidate_losses(p, relative_importance, tuned: bool = False) -> torch.Tensor:
    """Losses of N2_CANDIDATES for n = 2, m = 1, I_1 = 1, I_2 = relative_importance.

    Shape: broadcast(p, relative_importance) + (3,): feature 2 dropped, feature 1
    dropped, the antipodal pair: W = [1, -1], b = 0 in closed form, or at its
    best parameters if tuned (best_pair_loss).
    """
    p, r = torch.broadcast_tensors(_tensor(p, "p"), _tensor(relative_importance, "relative_importance"))
    _check_importance(r, "relative_importance")
    pair = best_pair_loss(p, 1.0, r)[0] if tuned else antipodal_loss(p, 1.0, r)
    return torch.stack([dropped_loss(p, r), dropped_loss(p, 1.0), pair], dim=-1)


def n3_candidate_losses(p, relative_importance, tuned: bool = False) -> torch.Tensor:
    """Losses of N3_CANDIDATES for n = 3, m = 2: I = (1, 1, r), every feature of density p.

    Shape: broadcast(p, relative_importance) + (4,). Each candidate is a sum of
    blocks in orthogonal directions: a dropped feature, features alone (loss 0)
    and at most one antipodal pair (in closed form, or at its best if tuned).
    """
    p, r = torch.broadcast_tensors(_tensor(p, "p"), _tensor(relative_importance, "relative_importance"))
    _check_importance(r, "relative_importance")
    # pair (1 or 2, 3) of importances (1, r) and pair (1, 2) of importances (1, 1), in one go
    both = torch.stack([r, torch.ones_like(r)])
    pairs = best_pair_loss(p, 1.0, both)[0] if tuned else antipodal_loss(p, 1.0, both)
    pair_13, pair_12 = pairs.unbind(0)
    return torch.stack([dropped_loss(p, r), dropped_loss(p, 1.0), pair_13, pair_12], dim=-1)


def n2_boundaries(relative_importance) -> torch.Tensor:
    """Density below which the antipodal pair (W = [1, -1], b = 0) beats dropping a feature.

    Setting p^2 (1 + r) / 6 equal to min(1, r) (p/3 - p^2/4) gives
    p* = 4 min(1, r) / (2 (1 + r) + 3 min(1, r)); 4/7 at r = 1.
    """
    r = _tensor(relative_importance, "relative_importance")
    _check_importance(r, "relative_importance")
    low = torch.minimum(r, torch.ones_like(r))
    return 4 * low / (2 * (1 + r) + 3 * low)


def classify_n2(W, b, threshold: float = 0.5) -> np.ndarray:
    """Name each learned n = 2, m = 1 solution: one of N2_CANDIDATES, LINEAR_MIX or "other".

    W: (..., 1, 2); b: (..., 2). A feature counts as represented when |W_i| > threshold.
    Both represented with opposite signs is the antipodal pair when the ReLU filters the
    interference (pair_filters); otherwise, and whenever both have the same sign, the
    model stores one linear combination of the two: LINEAR_MIX.
    """
    W, b = _tensor(W, "W"), _tensor(b, "b")
    if W.shape[-2:] != (1, 2):
        raise ValueError(f"W must have shape (..., 1, 2) for n = 2, m = 1; got {tuple(W.shape)}")
    if b.shape != W.shape[:-2] + (2,):
        raise ValueError(f"b must have shape {tuple(W.shape[:-2]) + (2,)} to go with W; got {tuple(b.shape)}")
    w1, w2 = W[..., 0, 0], W[..., 0, 1]
    on1, on2 = w1.abs() > threshold, w2.abs() > threshold
    names = np.full(tuple(w1.shape), "other", dtype=object)
    names[(on1 & ~on2).numpy()] = N2_CANDIDATES[0]
    names[(on2 & ~on1).numpy()] = N2_CANDIDATES[1]
    filters = (w1 * w2 < 0) & pair_filters(w1.abs(), w2.abs(), b[..., 0], b[..., 1])
    names[(on1 & on2).numpy()] = LINEAR_MIX
    names[(on1 & on2 & filters).numpy()] = N2_CANDIDATES[2]
    return names


def classify_n3(W, b, threshold: float = 0.5, cosine: float = 0.9) -> np.ndarray:
    """Name each learned n = 3, m = 2 solution: one of N3_CANDIDATES, LINEAR_MIX or "other".

    W: (..., 2, 3); b: (..., 3). Features 1 and 2 have equal importance, so the
    candidates that differ only by swapping them are one class ("W ⊥ [1,0,0]" stands
    for dropping feature 1 or 2; "W ⊥ [0,1,1]" for pairing feature 3 with either).
    Represented: |W_i| > threshold; a pair: cosine below -cosine, and the ReLU
    filters the pair's interference (pair_filters); alone: |cosine| below 1 - cosine
    with every other represented feature. Two represented features sharing a
    direction otherwise (the same sign, or biases that pass the interference) make
    the solution a LINEAR_MIX.
    """
    W, b = _tensor(W, "W"), _tensor(b, "b")
    if W.shape[-2:] != (2, 3):
        raise ValueError(f"W must have shape (..., 2, 3) for n = 3, m = 2; got {tuple(W.shape)}")
    if b.shape != W.shape[:-2] + (3,):
        raise ValueError(f"b must have shape {tuple(W.shape[:-2]) + (3,)} to go with W; got {tuple(b.shape)}")
    flat, biases = W.reshape(-1, 2, 3), b.reshape(-1, 3)
    norms = flat.norm(dim=1)
    unit = flat / norms.clamp_min(1e-12)[:, None, :]
    cos = unit.transpose(1, 2) @ unit  # (k, 3, 3)
    on = norms > threshold
    names = np.full(flat.shape[0], "other", dtype=object)
    for k in range(flat.shape[0]):
        kept = [i for i in range(3) if on[k, i]]
        shared = [(i, j) for i in kept for j in kept if i < j and abs(cos[k, i, j]) > cosine]
        pairs = [(i, j) for i, j in shared
                 if cos[k, i, j] < 0 and pair_filters(norms[k, i], norms[k, j], biases[k, i], biases[k, j])]
        apart = all(abs(cos[k, i, j]) < 1 - cosine for i in kept for j in kept if i < j and (i, j) not in shared)
        if not apart:
            continue
        if len(shared) > len(pairs):
            names[k] = LINEAR_MIX
        elif len(kept) == 2 and not pairs:
            names[k] = N3_CANDIDATES[0] if kept == [0, 1] else N3_CANDIDATES[1]
        elif len(kept) == 3 and len(pairs) == 1:
            names[k] = N3_CANDIDATES[3] if pairs[0] == (0, 1) else N3_CANDIDATES[2]
    return names.reshape(tuple(W.shape[:-2]))


N5_SHAPES = ("pentagon", "two digons")


def classify_n5(W, min_norm: float = 0.5, cosine: float = 0.95) -> np.ndarray:
    """Name each learned n = 5, m = 2 solution: "pentagon", "two digons" or "other".

    W: (..., 2, 5). A pentagon: all five features represented (|W_i| > min_norm).
    Two digons: four represented, in two antipodal pairs (cosine below -cosine),
    the fifth dropped (section "Non-Uniform Superposition").
    """
    W = _tensor(W, "W")
    if W.shape[-2:] != (2, 5):
        raise ValueError(f"W must have shape (..., 2, 5) for n = 5, m = 2; got {tuple(W.shape)}")
    flat = W.reshape(-1, 2, 5)
    names = np.full(flat.shape[0], "other", dtype=object)
    for k, Wk in enumerate(flat):
        norms = Wk.norm(dim=0)
        kept = (norms > min_norm).nonzero().squeeze(1)
        if len(kept) == 5:
            names[k] = N5_SHAPES[0]
        elif len(kept) == 4:
            unit = Wk[:, kept] / norms[kept]
            if ((unit.T @ unit < -cosine).sum(dim=1) == 1).all():
                names[k] = N5_SHAPES[1]
    return names.reshape(tuple(W.shape[:-2]))


def compressed_sensing_bound(p, constant: float = 1.0) -> torch.Tensor:
    """Features per dimension compressed sensing allows at feature density p = 1 - S.

    Recovering n features of which a fraction p is non-zero needs m = Omega(n p log(1/p))
    measurements (the paper's m = Omega(-n (1-S) log(1-S))), so at most
    n / m = 1 / (C p ln(1/p)) features per dimension. The theory fixes only the order, not
    the constant C (``constant``, > 0). Infinite at p = 1, where the bound says nothing.
    p: density in (0, 1], any shape. Returns a tensor of p's shape.
    """
    p = _tensor(p, "p")
    if ((p <= 0) | (p > 1)).any() or not torch.isfinite(p).all():
        raise ValueError(f"p must lie in (0, 1] (the feature density 1 - S); got values from "
                         f"{p.min().item():g} to {p.max().item():g}")
    constant = check_number(constant, "constant", positive=True)
    spread = -p * torch.log(p)
    return torch.where(spread > 0, 1 / (constant * spread.clamp_min(1e-300)), torch.full_like(p, float("inf")))


def expected_shared_neurons(n, m) -> float:
    """Neurons expected to be the largest-weight neuron of two or more of n features, by chance.

    If each feature's strongest neuron at initialization is uniform over m neurons and
    independent of the others, a neuron is shared when at least two features pick it:
    m (1 - (1 - 1/m)^n - (n/m) (1 - 1/m)^(n-1)) (the birthday problem). Lecomte et al.
    (2023) argue that an L1 penalty makes each feature's strongest neuron win and keep it,
    so these chance collisions become polysemantic neurons ("incidental polysemanticity").
    """
    n, m = check_positive_int(n, "n"), check_positive_int(m, "m")
    q = 1.0 / m
    if n * q >= 0.1:  # the closed form; nothing cancels badly here
        return m * -math.expm1((n - 1) * math.log1p(-q) + math.log1p((n - 1) * q)) if m > 1 else float(n >= 2)
    # few features per neuron: 1 - (1-q)^n - nq(1-q)^(n-1) would cancel to noise (89% off at m = 1e8), so sum
    # P(k features choose a neuron) = C(n, k) q^k (1-q)^(n-k) over k >= 2, every term positive
    term = math.exp(math.log(n * (n - 1) / 2) + 2 * math.log(q) + (n - 2) * math.log1p(-q)) if n >= 2 else 0.0
    total, k = 0.0, 2
    while term > 0 and k <= n:
        total += term
        if term < 1e-18 * total:
            break
        term *= (n - k) / (k + 1) * q / (1 - q)
        k += 1
    return m * total
