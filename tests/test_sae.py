"""SparseAutoencoder and the data it reads: formulas, gradients, invariants, and recovery of known features."""

import math

import pytest
import torch

from tms_tutorial import HiddenActivations, SparseAutoencoder, SparseFeatures, ToyModel, metrics, train
from tms_tutorial.evaluation import matched_activations, sae_statistics


def _sae(kind, **kwargs):
    sae = SparseAutoencoder(3, 6, 2, kind=kind, seed=4, **kwargs)
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(2, 6, generator=g) * 0.2)
        sae.b_dec.copy_(torch.randn(2, 3, generator=g) * 0.2)
        sae.W_enc.add_(torch.randn(2, 3, 6, generator=g) * 0.3)
    return sae, torch.randn(2, 16, 3, generator=g)


def test_shapes_names_and_unit_decoder_rows_at_the_start():
    sae = SparseAutoencoder(10, 40, 3, seed=0)
    assert sae.W_enc.shape == (3, 10, 40) and sae.W_dec.shape == (3, 40, 10)
    assert sae.b_enc.shape == (3, 40) and sae.b_dec.shape == (3, 10)
    assert sae.n_features == sae.d_in == 10 and sae.d_sae == 40
    assert torch.allclose(sae.W_dec.norm(dim=2), torch.ones(3, 40))
    assert torch.equal(sae.W_enc, sae.W_dec.transpose(1, 2))
    assert torch.equal(SparseAutoencoder(10, 40, 3, seed=0).W_dec, sae.W_dec)


def test_relu_sae_loss_is_error_plus_decoder_weighted_l1():
    sae, x = _sae("relu", l1_coefficient=[0.1, 0.5])
    with torch.no_grad():
        sae.W_dec.mul_(torch.tensor([0.5, 2.0])[:, None, None])  # rows off unit norm: the weighting shows
    f = torch.relu(torch.einsum("ibd,ids->ibs", x - sae.b_dec[:, None], sae.W_enc) + sae.b_enc[:, None])
    x_hat = torch.einsum("ibs,isd->ibd", f, sae.W_dec) + sae.b_dec[:, None]
    penalty = (f * sae.W_dec.norm(dim=2)[:, None]).sum(dim=2).mean(dim=1)
    expected = ((x - x_hat) ** 2).sum(dim=2).mean(dim=1) + torch.tensor([0.1, 0.5]) * penalty
    assert torch.allclose(sae.loss(x, x, torch.ones(2, 3)), expected, atol=1e-6)
    assert torch.allclose(sae(x), x_hat, atol=1e-6)


def test_topk_keeps_the_k_largest_positive_pre_activations_per_instance():
    sae, x = _sae("topk", k=[1, 3])
    z = sae.pre_activations(x)
    f = sae.encode(x)
    assert ((f > 0).sum(dim=2)[0] <= 1).all() and ((f > 0).sum(dim=2)[1] <= 3).all()
    for instance, k in ((0, 1), (1, 3)):
        top = torch.topk(z[instance], k, dim=1)
        kept = torch.zeros_like(z[instance]).scatter(1, top.indices, torch.relu(top.values))
        assert torch.allclose(f[instance], kept)
    assert torch.allclose(sae.loss(x, x, torch.ones(2, 3)), ((x - sae(x)) ** 2).sum(dim=2).mean(dim=1))


def test_jumprelu_passes_z_above_the_threshold_and_counts_active_latents():
    sae, x = _sae("jumprelu", l0_coefficient=0.2, threshold=0.3)
    z = sae.pre_activations(x)
    f = sae.encode(x)
    assert torch.allclose(sae.threshold, torch.full((2, 6), 0.3))
    assert torch.allclose(f, z * (z > 0.3))
    expected = ((x - sae(x)) ** 2).sum(dim=2).mean(dim=1) + 0.2 * (z > 0.3).sum(dim=2).float().mean(dim=1)
    assert torch.allclose(sae.loss(x, x, torch.ones(2, 3)), expected, atol=1e-6)


def test_jumprelu_threshold_gradients_are_the_straight_through_estimates():
    sae, x = _sae("jumprelu", l0_coefficient=0.2, threshold=0.3, bandwidth=0.4)
    z = sae.pre_activations(x).detach()
    theta = sae.threshold.detach()[:, None, :]
    window = ((z - theta).abs() < 0.2).float() / 0.4
    # the L0 term alone: d/dtheta of 0.2 * mean_b sum_j H(z - theta) is -0.2 * mean_b window
    sae.zero_grad()
    sae.sparsity_penalty(sae.pre_activations(x), sae.encode(x)).sum().backward()
    l0_grad = -0.2 * window.mean(dim=1)
    assert torch.allclose(sae.log_threshold.grad, l0_grad * sae.threshold.detach(), atol=1e-6)  # chain rule
    # the activation: d/dtheta of sum f is -theta * window
    sae.zero_grad()
    sae.encode(x).sum().backward()
    assert torch.allclose(sae.log_threshold.grad, (-theta * window).sum(dim=1) * sae.threshold.detach(), atol=1e-5)


def test_after_step_restores_unit_decoder_rows():
    sae = SparseAutoencoder(3, 5, 2)
    with torch.no_grad():
        sae.W_dec.mul_(3.0)
    sae.after_step()
    assert torch.allclose(sae.W_dec.norm(dim=2), torch.ones(2, 5))


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="gated"), "kind"),
    (dict(kind="topk"), "k must be"),
    (dict(kind="topk", k=7), "k must be"),
    (dict(kind="topk", k=[1, 2, 3]), "k must be"),
    (dict(kind="relu", k=2), "k is the size"),
    (dict(kind="topk", k=2, l1_coefficient=0.1), "l1_coefficient is the penalty"),
    (dict(kind="relu", l0_coefficient=0.1), "l0_coefficient is the penalty"),
    (dict(kind="relu", l1_coefficient=-0.1), "l1_coefficient"),
    (dict(kind="relu", l1_coefficient=[0.1, 0.2, 0.3]), "one per instance"),
    (dict(kind="jumprelu", threshold=0.0), "threshold"),
    (dict(kind="jumprelu", bandwidth=-1.0), "bandwidth"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseAutoencoder(3, 6, 2, **kwargs)


def test_bad_inputs_raise():
    sae = SparseAutoencoder(3, 6, 2)
    with pytest.raises(ValueError, match="x must have shape"):
        sae(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="threshold"):
        sae.threshold


def test_hidden_activations_are_W_x_shared_by_every_instance():
    features = SparseFeatures(5, 0.3)
    W = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    data = HiddenActivations(features, W)
    h, target = data.sample(64, 3, rng=7)
    x, _ = features.sample(64, 1, rng=7)
    assert h.shape == (3, 64, 2) and target is h and data.n_features == 2
    assert torch.allclose(h[1], x[0] @ W.T) and torch.equal(h[0], h[2])
    x2, h2 = data.sample_with_features(64, rng=7)
    assert torch.equal(x2, x[0]) and torch.allclose(h2, x[0] @ W.T)
    assert torch.equal(data.importance_matrix(3), torch.ones(3, 2))


def test_hidden_activations_refuse_mismatches():
    with pytest.raises(ValueError, match="n_features=5"):
        HiddenActivations(SparseFeatures(5, 0.3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="one model"):
        HiddenActivations(SparseFeatures(5, [0.1, 0.2]), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="feature distribution"):
        HiddenActivations("features", torch.zeros(2, 5))


def test_train_rejects_an_sae_of_the_wrong_width():
    data = HiddenActivations(SparseFeatures(5, 0.3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="n_features"):
        train(SparseAutoencoder(3, 5), data, steps=2, progress=False)


@pytest.fixture(scope="module")
def pentagon():
    features = SparseFeatures(5, 0.05)
    model = ToyModel(5, 2, seed=0)
    train(model, features, steps=2000, lr=1e-2, schedule="cosine", progress=False)
    return HiddenActivations(features, model.W.detach()[0])


def test_a_topk_sae_recovers_the_pentagon_and_a_relu_sae_shrinks(pentagon):
    W = pentagon.directions
    settings = dict(steps=1500, lr=1e-2, schedule="cosine", batch_size=256, weight_decay=0.0, progress=False)
    topk = SparseAutoencoder(2, 5, 1, kind="topk", k=1, seed=1)
    relu = SparseAutoencoder(2, 5, 1, kind="relu", l1_coefficient=0.3, seed=1)
    train(topk, pentagon, **settings)
    train(relu, pentagon, **settings)
    assert torch.allclose(topk.W_dec.norm(dim=2), torch.ones(1, 5), atol=1e-5)  # after_step ran
    for sae in (topk, relu):
        assert metrics.feature_recovery(sae.W_dec.detach(), W)["recovered"].item() == 5
        assert metrics.mmcs(sae.W_dec.detach(), W).item() > 0.98
    latents = {name: metrics.matched_latents(sae.W_dec.detach(), W) for name, sae in (("topk", topk), ("relu", relu))}
    stats = {name: sae_statistics(sae, pentagon, samples=20_000, latents=latents[name])
             for name, sae in (("topk", topk), ("relu", relu))}
    assert stats["topk"]["gain"].item() > 0.95 and stats["relu"]["gain"].item() < 0.9  # the L1 penalty shrinks
    assert stats["relu"]["shrinkage"].item() < stats["topk"]["shrinkage"].item()
    assert stats["topk"]["l0"].item() <= 1.0 and stats["topk"]["dead"].item() == 0
    sizes, mine = matched_activations(relu, pentagon, latents["relu"], samples=5000)
    assert sizes.shape == (5000, 5) and mine.shape == (1, 5000, 5)
    alone = ((sizes > 0).sum(dim=1, keepdim=True) == 1) & (sizes > 0.5) & (mine[0] > 0)  # one feature on
    assert alone.sum() > 100 and (mine[0][alone] < sizes[alone]).all()  # below the diagonal: shrunk


def test_sae_statistics_on_hand_made_saes():
    """An SAE whose decoder is exactly the true features reads each alone exactly: gain 1, no false fires."""
    features = SparseFeatures(2, 0.3)
    data = HiddenActivations(features, torch.eye(2))
    sae = SparseAutoencoder(2, 3, 1, kind="relu")
    with torch.no_grad():
        sae.W_dec.copy_(torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]]))
        sae.W_enc.copy_(sae.W_dec.transpose(1, 2))
    stats = sae_statistics(sae, data, samples=10_000, latents=torch.tensor([[0, 1]]))
    assert stats["mse"].item() < 1e-10 and stats["dead"].item() == 1 and stats["firing"][0, 2] == 0
    assert math.isclose(stats["gain"].item(), 1.0, rel_tol=1e-5)
    assert stats["false_fires"].item() == 0 and stats["misses"].item() == 0
    assert math.isclose(stats["shrinkage"].item(), 1.0, rel_tol=1e-5)
    assert abs(stats["l0"].item() - 0.6) < 0.03  # two features on with probability 0.3 each
    assert abs(stats["firing"][0, 0].item() - 0.3) < 0.02
    with pytest.raises(ValueError, match="latents must hold"):
        sae_statistics(sae, data, latents=torch.tensor([[0, 5]]))


def test_unexplained_variance_is_zero_for_a_perfect_sae_and_one_for_the_mean_activation():
    features = SparseFeatures(2, 0.3)
    data = HiddenActivations(features, torch.eye(2))
    sae = SparseAutoencoder(2, 2, 2, kind="relu")
    h = data.sample(200_000, 1, rng=0)[0][0]
    with torch.no_grad():
        sae.W_dec.copy_(torch.eye(2).repeat(2, 1, 1))
        sae.W_enc.copy_(torch.eye(2).repeat(2, 1, 1))
        sae.W_enc[1] = 0.0  # instance 1 writes nothing but b_dec: the mean activation
        sae.b_dec[1] = h.mean(dim=0)
    stats = sae_statistics(sae, data, samples=20_000)
    assert stats["unexplained_variance"][0].item() < 1e-10
    assert stats["unexplained_variance"][1].item() == pytest.approx(1.0, abs=0.02)
