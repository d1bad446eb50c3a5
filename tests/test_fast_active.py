"""fast.active: same distribution, same loss and gradients as the dense batch."""

import numpy as np
import pytest
import torch

from tms_tutorial import SparseFeatures, ToyModel, evaluate, reconstruction_loss, train
from tms_tutorial import fast
from tms_tutorial.fast.active import ActiveSampler, active_gradients, prefers_active


def dense_batch(rows, cols, values, n_group, batch_size, n_features):
    x = torch.zeros(n_group * batch_size * n_features)
    x[rows * n_features + cols % n_features] = values
    return x.view(n_group, batch_size, n_features)


def test_sampler_matches_the_feature_distribution():
    p = torch.tensor([[0.3] * 5, [0.02, 0.05, 0.1, 0.2, 0.01], [0.0] * 5])
    rows, cols, values = ActiveSampler(p, 40_000, seed=3).sample()
    x = dense_batch(rows, cols, values, 3, 40_000, 5)
    density = (x > 0).double().mean(dim=1)
    tolerance = 4 * torch.sqrt(p * (1 - p) / 40_000) + 1e-12  # four standard errors
    assert ((density - p).abs() <= tolerance).all()
    active = x[x > 0].double()
    assert active.max() <= 1.0
    assert abs(active.mean().item() - 0.5) < 0.01  # U(0, 1]: mean 1/2, variance 1/12
    assert abs(active.var().item() - 1 / 12) < 0.005
    assert torch.all(rows[1:] >= rows[:-1])  # sorted by sample, as the embedding bags need
    assert torch.equal(rows // 40_000, cols // 5)  # each entry's instance agrees in rows and cols


def test_sampler_is_seeded():
    p = torch.full((2, 50), 0.03)
    first = ActiveSampler(p, 256, seed=7).sample()
    again = ActiveSampler(p, 256, seed=7).sample()
    other = ActiveSampler(p, 256, seed=8).sample()
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_gradients_equal_autograd_on_the_same_batch(activation):
    n, m, batch = 40, 6, 64
    # Sparse instances have many all-zero samples (their part is computed in closed form), the last has only those.
    p = torch.stack(
        [torch.full((n,), 0.05), torch.full((n,), 0.2), torch.linspace(0.01, 0.3, n), torch.full((n,), 0.002),
         torch.zeros(n)]
    )
    rows, cols, values = ActiveSampler(p, batch, seed=0).sample()
    x = dense_batch(rows, cols, values, 5, batch, n)
    assert 0 < (x[3].sum(dim=1) == 0).sum() < batch
    model = ToyModel(n, m, 5, activation, seed=1)
    with torch.no_grad():
        model.b.normal_()
    importance = torch.rand(5, n, generator=torch.Generator().manual_seed(2))
    loss = reconstruction_loss(x, model(x), importance)
    loss.sum().backward()
    ours, grad_W, grad_b = active_gradients(
        model.W.detach(), model.b.detach(), importance, rows, cols, values, batch, activation, with_loss=True
    )
    assert torch.allclose(ours, loss.detach(), rtol=1e-5)
    assert torch.allclose(grad_W, model.W.grad, atol=1e-6)
    assert torch.allclose(grad_b, model.b.grad, atol=1e-6)


def test_route_choice():
    p_max = torch.tensor([1.0, 0.1, 0.02, 0.001])
    assert prefers_active(p_max, 400, 30).tolist() == [False, False, True, True]
    assert not prefers_active(p_max, 200, 80).any()  # n < 3 m: the dense route is cheap anyway
    assert not prefers_active(p_max, 30, 2).any()  # small n: likewise


def test_split_training_reaches_the_dense_routes_loss(monkeypatch):
    """Instances on either route, trained on the same objective, end at the same loss."""
    features = SparseFeatures(72, torch.tensor([0.5, 0.05, 0.02]), 0.97 ** torch.arange(72))
    assert prefers_active(features.probability(3).max(dim=1).values, 72, 12).tolist() == [False, True, True]
    split = ToyModel(72, 12, 3, seed=4)
    assert fast.route(split, features) == "active"
    train(split, features, steps=1500, seed=1, progress=False)
    monkeypatch.setattr(fast, "prefers_active", lambda p_max, n, m: torch.zeros_like(p_max, dtype=bool))
    assert fast.route(ToyModel(72, 12, 3), features) == "dense"
    dense = ToyModel(72, 12, 3, seed=4)
    train(dense, features, steps=1500, seed=1, progress=False)
    split_loss, dense_loss = evaluate(split, features), evaluate(dense, features)
    assert np.allclose(split_loss, dense_loss, rtol=0.05), (split_loss, dense_loss)
    untrained = evaluate(ToyModel(72, 12, 3, seed=4), features)
    assert (split_loss < 0.8 * untrained).all()


def test_sampler_and_gradients_refuse_bad_input():
    with pytest.raises(ValueError, match="probability"):
        ActiveSampler(torch.tensor([[0.5, 1.5]]), 16, seed=0)
    with pytest.raises(ValueError, match="probability"):
        ActiveSampler(torch.tensor([[-0.1, 0.5]]), 16, seed=0)
    rows, cols, values = ActiveSampler(torch.full((1, 4), 0.3), 16, seed=0).sample()
    model = ToyModel(4, 2)
    with pytest.raises(ValueError, match="activation"):
        active_gradients(model.W.detach(), model.b.detach(), torch.ones(1, 4), rows, cols, values, 16, "tanh")
