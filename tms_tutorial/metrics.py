"""Measurements of a learned W from the paper.

All functions take W of shape (n_instances, n_hidden, n_features) (a tensor, a
parameter or an array) and return tensors with the instance dimension first.
A feature whose column W_i is zero has no direction: its superposition and its
dimensionality are 0.
"""

from __future__ import annotations

import torch

from ._checks import check_weights

_ZERO = 1e-8  # a column shorter than this counts as the zero vector


def feature_norms(W) -> torch.Tensor:
    """‖W_i‖ for every feature: (n_instances, n_features)."""
    return check_weights(W).norm(dim=1)


def _unit_columns(W: torch.Tensor) -> torch.Tensor:
    norms = W.norm(dim=1, keepdim=True)  # (I, 1, n)
    return torch.where(norms > _ZERO, W / norms.clamp_min(_ZERO), torch.zeros_like(W))


def _projections(W: torch.Tensor) -> torch.Tensor:
    """(Ŵ_i · W_j)^2 for every pair: (n_instances, n_features i, n_features j)."""
    return (_unit_columns(W).transpose(1, 2) @ W) ** 2


def superposition(W, min_norm: float = 0.1) -> torch.Tensor:
    """Interference felt by each feature: sum over j ≠ i of (Ŵ_i · W_j)^2.

    Zero when feature i is orthogonal to every other feature; the paper
    colours the bar of ‖W_i‖ by this quantity. A feature with ‖W_i‖ < min_norm
    is taken as not represented and gets 0: the direction of a near-zero
    column is noise left by training (weight decay shrinks it but never to
    exactly zero), and would otherwise report spurious superposition.
    Returns (n_instances, n_features).
    """
    if not min_norm >= 0:
        raise ValueError(f"min_norm must be >= 0; got {min_norm!r}")
    W = check_weights(W)
    proj = _projections(W)
    total = proj.sum(dim=2) - proj.diagonal(dim1=1, dim2=2)
    return torch.where(W.norm(dim=1) >= max(min_norm, _ZERO), total, torch.zeros_like(total))


def feature_dimensionality(W) -> torch.Tensor:
    """The paper's D_i = ‖W_i‖^2 / sum_j (Ŵ_i · W_j)^2 (j runs over all features).

    1 for a feature with a dimension of its own, 1/2 for an antipodal pair,
    2/5 for a pentagon's vertices, 0 for a feature that is not represented.
    Returns (n_instances, n_features).
    """
    W = check_weights(W)
    denominator = _projections(W).sum(dim=2)
    norms_sq = (W**2).sum(dim=1)
    return torch.where(denominator > 0, norms_sq / denominator.clamp_min(1e-30), torch.zeros_like(norms_sq))


def dimensions_per_feature(W) -> torch.Tensor:
    """The paper's D* = m / ‖W‖_F^2, hidden dimensions per (embedded) feature: (n_instances,)."""
    W = check_weights(W)
    return W.shape[1] / (W**2).sum(dim=(1, 2))
