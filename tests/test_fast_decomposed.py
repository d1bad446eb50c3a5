"""fast.decomposed: L = P(none) L_0 + sum_j P(only j) L_j + sampled rest, checked against sampling."""

import pytest
import torch

from tms_tutorial import SparseFeatures, ToyModel, reconstruction_loss
from tms_tutorial.fast.decomposed import PatternSampler, exact_part, sampled_part_gradients, stratified_part


def make_model(activation):
    model = ToyModel(3, 2, n_instances=4, activation=activation, seed=3)
    with torch.no_grad():
        model.b.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(4))
    features = SparseFeatures(3, torch.tensor([1.0, 0.3, 0.05, 0.01]), torch.tensor([1.0, 0.8, 0.5]))
    return model, features


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_decomposed_estimate_is_unbiased_for_loss_and_gradient(activation):
    model, features = make_model(activation)
    importance = features.importance_matrix(4)
    sampler = PatternSampler(features, 4, batch_size=1024, seed=0, device="cpu")
    draws, losses, grads = 300, [], []
    for _ in range(draws):
        model.zero_grad()
        exact = exact_part(model, features)
        exact.sum().backward()
        loss, grad_W, grad_b = sampled_part_gradients(model, importance, *sampler.sample(), batch_size=1024)
        losses.append(exact.detach() + loss)
        grads.append(torch.cat([(model.W.grad + grad_W).flatten(), (model.b.grad + grad_b).flatten()]))
    estimate, gradient = torch.stack(losses).mean(0), torch.stack(grads).mean(0)

    x = features.sample(500_000, 4, rng=9)[0]
    model.zero_grad()
    plain = reconstruction_loss(x, model(x), importance)
    plain.sum().backward()
    plain_gradient = torch.cat([model.W.grad.flatten(), model.b.grad.flatten()])
    assert torch.allclose(estimate, plain.detach(), rtol=0.01, atol=1e-4)
    assert torch.allclose(gradient, plain_gradient, rtol=0.03, atol=3e-3)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_sampled_part_gradients_equal_autograd_on_the_same_rows(activation):
    model = ToyModel(3, 2, n_instances=5, activation=activation, seed=1)
    with torch.no_grad():
        model.b.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(0))
    instance = torch.tensor([0, 0, 1, 3, 3, 3, 4])
    x = torch.rand(7, 3, generator=torch.Generator().manual_seed(1))
    importance = torch.rand(5, 3, generator=torch.Generator().manual_seed(2))
    lengths = torch.bincount(instance, minlength=5)
    loss, grad_W, grad_b = sampled_part_gradients(model, importance, instance, x, lengths, batch_size=10)

    W, b = model.W[instance], model.b[instance]
    y = torch.einsum("rmn,rm->rn", W, torch.einsum("rmn,rn->rm", W, x)) + b
    out = torch.relu(y) if activation == "relu" else y
    rows = (importance[instance] * (x - out) ** 2).sum(dim=1)
    expected = torch.zeros(5).index_add(0, instance, rows) / 10
    model.zero_grad()
    expected.sum().backward()
    assert torch.allclose(loss, expected.detach(), atol=1e-6)
    assert torch.allclose(grad_W, model.W.grad, atol=1e-6)
    assert torch.allclose(grad_b, model.b.grad, atol=1e-6)


def test_pattern_counts_follow_the_batch():
    p = torch.tensor([1.0, 0.5, 0.0])
    sampler = PatternSampler(SparseFeatures(2, p), 3, batch_size=1000, seed=0, device="cpu")
    instance, x, counts = sampler.sample()
    assert torch.equal(counts, torch.bincount(instance, minlength=3))
    assert counts[0] == 1000 and counts[2] == 0  # dense: every sample; never active: none
    assert abs(counts[1].item() - 250) < 5 * (1000 * 0.25 * 0.75) ** 0.5
    assert (x > 0).all()  # n = 2: both features active in every sampled row


def test_too_many_features_for_patterns():
    with pytest.raises(ValueError, match="n_features"):
        PatternSampler(SparseFeatures(5, 0.1), 1, 1024, 0, "cpu")


def test_stratified_part_matches_a_large_plain_batch():
    """exact_part + stratified_part is the whole expected loss, also at low density."""
    features = SparseFeatures(3, torch.tensor([0.8, 0.2, 0.05]), torch.tensor([1.0, 0.7, 2.0]))
    model = ToyModel(3, 2, n_instances=3, seed=4)
    with torch.no_grad():
        model.b.copy_(torch.tensor([0.05, -0.1, 0.02]))
        total = exact_part(model, features) + stratified_part(model, features, 200_000, seed=1)
        x = features.sample(1_000_000, 3, rng=2)[0]
        per_sample = ((model(x) - x) ** 2 * features.importance_matrix(3)[:, None, :]).sum(dim=2)
    mean, error = per_sample.mean(dim=1), per_sample.std(dim=1) / 1000
    assert (torch.abs(total - mean) < 5 * error + 1e-6).all(), (total, mean, error)


def test_decomposition_refuses_features_of_another_size_and_no_samples():
    model = ToyModel(3, 2)
    with pytest.raises(ValueError, match="n_features"):
        exact_part(model, SparseFeatures(2, 0.1))
    with pytest.raises(ValueError, match="n_features"):
        stratified_part(model, SparseFeatures(4, 0.1), samples=10)
    with pytest.raises(ValueError, match="samples"):
        stratified_part(model, SparseFeatures(3, 0.1), samples=0)
