"""metrics: hand-computed values on small matrices."""

import math

import numpy as np
import pytest
import torch

from tms_tutorial import metrics


def polygon(k: int) -> torch.Tensor:
    """k unit vectors evenly spaced around the circle, shape (1, 2, k)."""
    angles = torch.arange(k) * 2 * math.pi / k
    return torch.stack([torch.cos(angles), torch.sin(angles)])[None]


def test_orthogonal_features():
    W = torch.eye(3)[None]
    assert torch.allclose(metrics.feature_norms(W), torch.ones(1, 3))
    assert torch.allclose(metrics.superposition(W), torch.zeros(1, 3))
    assert torch.allclose(metrics.feature_dimensionality(W), torch.ones(1, 3))
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.ones(1))


def test_antipodal_pair():
    W = torch.tensor([[[1.0, -1.0]]])  # m = 1, n = 2
    assert torch.allclose(metrics.superposition(W), torch.ones(1, 2))
    assert torch.allclose(metrics.feature_dimensionality(W), torch.full((1, 2), 0.5))
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.tensor([0.5]))


@pytest.mark.parametrize("k, dimensionality", [(3, 2 / 3), (5, 2 / 5)])
def test_regular_polygons(k, dimensionality):
    W = polygon(k)
    assert torch.allclose(metrics.feature_dimensionality(W), torch.full((1, k), dimensionality), atol=1e-6)
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.tensor([2 / k]))


def test_unequal_features_by_hand():
    W = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])  # w0 = (1, 0), w1 = (0.5, 0)
    # ŵ0·w1 = 0.5 -> 0.25; ŵ1·w0 = 1 -> 1.
    assert torch.allclose(metrics.superposition(W), torch.tensor([[0.25, 1.0]]))
    # D0 = 1 / (1 + 0.25); D1 = 0.25 / (0.25 + 1).
    assert torch.allclose(metrics.feature_dimensionality(W), torch.tensor([[0.8, 0.2]]))
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.tensor([2 / 1.25]))


def test_features_that_are_not_represented():
    W = torch.tensor([[[1.0, 0.0, 0.05], [0.0, 0.0, 0.0]]])
    assert torch.allclose(metrics.feature_dimensionality(W)[0, 1], torch.tensor(0.0))
    assert not torch.isnan(metrics.feature_dimensionality(W)).any()
    # Feature 2 is shorter than min_norm: no superposition is reported for it ...
    assert metrics.superposition(W)[0, 2] == 0
    # ... though it interferes with feature 0, which is represented.
    assert metrics.superposition(W)[0, 0] .item() == pytest.approx(0.0025, rel=1e-4)
    assert metrics.superposition(W, min_norm=0.01)[0, 2].item() == pytest.approx(1.0, rel=1e-5)


def test_accepts_numpy_and_parameters():
    W = np.eye(2)[None]
    assert torch.allclose(metrics.feature_norms(W), torch.ones(1, 2))
    parameter = torch.nn.Parameter(torch.eye(2)[None])
    assert not metrics.superposition(parameter).requires_grad


@pytest.mark.parametrize(
    "function", [metrics.feature_norms, metrics.superposition, metrics.feature_dimensionality, metrics.dimensions_per_feature]
)
def test_wrong_shape_raises_naming_W(function):
    with pytest.raises(ValueError, match="W must have shape"):
        function(torch.eye(2))


def test_negative_min_norm_raises():
    with pytest.raises(ValueError, match="min_norm"):
        metrics.superposition(torch.eye(2)[None], min_norm=-1)
