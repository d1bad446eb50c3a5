"""theory: closed forms against Monte Carlo, the phase diagrams' regions, the solution classifiers."""

import math

import numpy as np
import pytest
import torch

from tms_tutorial import SparseFeatures, ToyModel, reconstruction_loss
from tms_tutorial import theory as T
from tms_tutorial.theory import relu_moments, single_feature_loss

SAMPLES = 2_000_000


def sampled_loss(W, b, p, importance, activation="relu", seed=0):
    """Mean loss and its standard error over SAMPLES draws, in float64."""
    W = torch.as_tensor(W, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    importance = torch.as_tensor(importance, dtype=torch.float64)
    n = W.shape[1]
    x = SparseFeatures(n, torch.as_tensor(p, dtype=torch.float32).expand(1, n)).sample(SAMPLES, 1, rng=seed)[0][0]
    x = x.double()
    y = x @ W.T @ W + b
    out = torch.relu(y) if activation == "relu" else y
    per_sample = ((x - out) ** 2 * importance).sum(dim=1)
    return per_sample.mean().item(), per_sample.std().item() / math.sqrt(SAMPLES)


def close(theory, sampled, spread):
    return abs(theory - sampled) <= 5 * spread + 1e-6


@pytest.mark.parametrize("p", [1.0, 0.3, 0.05])
def test_dropped_feature_loss_is_its_variance(p):
    # feature 1 kept exactly, feature 2 dropped and answered by its mean p / 2
    mean, spread = sampled_loss([[1.0, 0.0]], [0.0, p / 2], p, [1.0, 0.7])
    assert close(T.dropped_loss(p, 0.7).item(), mean, spread)


@pytest.mark.parametrize("p, r", [(1.0, 1.0), (0.3, 0.2), (0.05, 4.0)])
def test_antipodal_pair_closed_form(p, r):
    mean, spread = sampled_loss([[1.0, -1.0]], [0.0, 0.0], p, [1.0, r])
    assert close(T.antipodal_loss(p, 1.0, r).item(), mean, spread)


@pytest.mark.parametrize(
    "a, c, b1, b2, p, i1, i2",
    [(1.0, 1.0, 0.0, 0.0, 0.3, 1.0, 1.0), (0.9, 1.2, -0.1, 0.05, 0.2, 1.0, 3.0), (1.1, 0.7, 0.2, -0.3, 0.7, 2.0, 0.5)],
)
def test_pair_loss_against_monte_carlo(a, c, b1, b2, p, i1, i2):
    mean, spread = sampled_loss([[a, -c]], [b1, b2], p, [i1, i2])
    assert close(T.pair_loss(a, c, b1, b2, p, i1, i2).item(), mean, spread)


def test_pair_loss_at_the_symmetric_point_is_the_closed_form():
    p = torch.tensor([0.01, 0.2, 0.9])
    assert torch.allclose(T.pair_loss(1.0, 1.0, 0.0, 0.0, p, 1.0, 2.5), T.antipodal_loss(p, 1.0, 2.5), atol=1e-9)


def test_best_pair_deep_in_its_region_is_the_closed_form_and_better_near_the_boundary():
    p = torch.tensor([0.1, 0.03, 0.3, 0.5])
    r = torch.tensor([1.0, 5.0, 0.3, 1.0])
    best, params = T.best_pair_loss(p, 1.0, r)
    simple = T.antipodal_loss(p, 1.0, r)
    assert (best <= simple).all()
    assert (best[:2] >= 0.99 * simple[:2]).all()  # deep inside: within 1%
    assert (best[2:] < 0.97 * simple[2:]).all()  # near the boundary: a few % cheaper
    assert (params[2:, 2:] > 0).all()  # ... through small positive biases
    assert torch.allclose(T.pair_loss(*params.unbind(-1), p, 1.0, r), best)


@pytest.mark.parametrize("activation_p", [1.0, 0.2, 0.02])
def test_linear_loss_against_monte_carlo(activation_p):
    generator = torch.Generator().manual_seed(1)
    W = torch.randn(2, 4, generator=generator, dtype=torch.float64) * 0.6
    b = torch.randn(4, generator=generator, dtype=torch.float64) * 0.1
    importance = torch.tensor([1.0, 0.8, 0.5, 0.3], dtype=torch.float64)
    mean, spread = sampled_loss(W, b, activation_p, importance, activation="linear")
    assert close(T.linear_loss(W, b, activation_p, importance).item(), mean, spread)


def test_linear_loss_with_best_biases_scales_with_the_variance():
    """Density factors out of the linear model's loss: the best W is the same at every sparsity."""
    W = torch.tensor([[1.0, -1.0, 0.3], [0.2, 0.5, 1.0]], dtype=torch.float64)
    importance = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)
    ratios = []
    for p in (1.0, 0.1, 0.01):
        best_b = (torch.eye(3, dtype=torch.float64) - W.T @ W) @ torch.full((3,), p / 2, dtype=torch.float64)
        ratios.append((T.linear_loss(W, best_b, p, importance) / T.feature_variance(p)).item())
    assert np.allclose(ratios, ratios[0])


def test_boundary_is_where_the_losses_cross():
    for r in (0.1, 0.5, 1.0, 3.0, 10.0):
        p = T.n2_boundaries(r)
        losses = T.n2_candidate_losses(p, r)
        assert torch.isclose(losses[2], losses[:2].min(), rtol=1e-9)
    assert torch.isclose(T.n2_boundaries(1.0), torch.tensor(4 / 7, dtype=torch.float64))


@pytest.mark.parametrize(
    "p, r, expected",
    [(1.0, 0.2, "feature 1 only"), (1.0, 5.0, "feature 2 only"), (0.05, 1.0, "antipodal pair"), (0.01, 8.0, "antipodal pair")],
)
def test_n2_phases_inside_each_region(p, r, expected):
    assert T.N2_CANDIDATES[T.n2_candidate_losses(p, r).argmin()] == expected


@pytest.mark.parametrize(
    "p, r, expected",
    [(1.0, 0.2, "W ⊥ [0,0,1]"), (1.0, 5.0, "W ⊥ [1,0,0]"), (0.05, 0.3, "W ⊥ [0,1,1]"), (0.05, 3.0, "W ⊥ [1,1,0]")],
)
def test_n3_phases_inside_each_region(p, r, expected):
    assert T.N3_CANDIDATES[T.n3_candidate_losses(p, r).argmin()] == expected


def test_classify_n2_on_hand_made_weights():
    W = torch.tensor([[[1.0, 0.0]], [[0.05, -0.98]], [[1.0, -1.0]], [[0.95, -0.8]], [[0.7, 0.7]],
                      [[0.71, -0.71]], [[0.0, 0.0]]])
    b = torch.tensor([[0.0, 0.1], [0.1, 0.0], [0.0, 0.0], [0.2, 0.3], [0.3, 0.3], [0.5, 0.5], [0.0, 0.0]])
    assert T.classify_n2(W, b).tolist() == ["feature 1 only", "feature 2 only", "antipodal pair", "antipodal pair",
                                            "linear mix", "linear mix", "other"]
    with pytest.raises(ValueError, match="b must have shape"):
        T.classify_n2(W, b[:3])


def test_filtered_share_is_where_the_relu_cuts_interference_off():
    assert T.filtered_share(-1.0, 0.0).item() == 1.0  # negative interference, no bias: all cut off
    assert T.filtered_share(-1.0, 0.25).item() == pytest.approx(0.75)  # passes for u < 0.25
    assert T.filtered_share(-0.5, 0.5).item() == pytest.approx(0.0)  # the linear mix: nothing cut off
    assert T.filtered_share(0.5, -0.1).item() == pytest.approx(0.2)  # positive interference, cut for u < 0.2
    assert T.filtered_share(0.5, 0.1).item() == 0.0
    assert T.filtered_share(0.0, -0.1).item() == 1.0 and T.filtered_share(0.0, 0.1).item() == 0.0
    assert T.pair_filters(1.0, 1.0, 0.0, 0.0) and not T.pair_filters(0.707, 0.707, 0.5, 0.5)
    assert not T.pair_filters(1.0, 0.4, 0.0, 0.0)  # a length below 0.5 is a dropped feature


def test_best_pair_is_superposition_or_the_closed_form():
    """Near r = 1 and dense, the optimum of pair_loss is the linear mix (a = c = 0.71, b = p/2), at the loss of
    dropping a feature; that is not an antipodal pair, and best_pair_loss falls back to the closed form there."""
    p, r = torch.tensor([1.0, 0.785, 0.616, 0.483]), torch.tensor([1.0, 1.0, 0.89, 0.55])
    best, params = T.best_pair_loss(p, 1.0, r)
    simple = T.antipodal_loss(p, 1.0, r)
    assert torch.equal(best[:2], simple[:2])
    assert torch.equal(params[:2], torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 2, dtype=torch.float64))
    assert (best[2:] < 0.9 * simple[2:]).all()  # 20% and 11% cheaper
    assert T.pair_filters(*params[2:].unbind(-1)).all()
    unconstrained = T.pair_loss(0.7071, 0.7071, 0.5, 0.5, 1.0)  # the linear mix at p = 1: exactly 1/12 = dropping
    assert unconstrained.item() == pytest.approx(1 / 12, abs=1e-4)


def rotation(angle):
    return torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def test_classify_n3_on_hand_made_weights_in_any_orientation():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    zero = torch.zeros(2)
    cases = {
        "W ⊥ [0,0,1]": torch.stack([e1, e2, zero], dim=1),
        "W ⊥ [1,0,0]": torch.stack([zero, e1, e2], dim=1),
        "W ⊥ [0,1,1]": torch.stack([e1, e2, -e2], dim=1),
        "W ⊥ [1,1,0]": torch.stack([e1, -e1, e2], dim=1),
    }
    zero3 = torch.zeros(3)
    angles = torch.tensor([0, 2 * math.pi / 3, 4 * math.pi / 3])
    triangle = torch.stack([torch.cos(angles), torch.sin(angles)])  # all three at 120 degrees
    for angle in (0.0, 0.7, 2.5):
        R = rotation(angle)
        for name, W in cases.items():
            assert T.classify_n3(R @ W, zero3).item() == name
        assert T.classify_n3(R @ triangle, zero3).item() == "other"
        # features 1 and 2 on one direction, the same way or with biases that pass the interference
        assert T.classify_n3(R @ torch.stack([e1 * 0.7, e1 * 0.7, e2], dim=1), zero3).item() == "linear mix"
        mix = torch.stack([e1 * 0.71, -e1 * 0.71, e2], dim=1)
        assert T.classify_n3(R @ mix, torch.tensor([0.5, 0.5, 0.0])).item() == "linear mix"
    # feature 3 paired with feature 1 instead of 2 is the same class (features 1 and 2 are interchangeable)
    assert T.classify_n3(torch.stack([e1, e2, -e1], dim=1), zero3).item() == "W ⊥ [0,1,1]"


def test_bad_inputs_raise_naming_the_argument():
    with pytest.raises(ValueError, match="p"):
        T.dropped_loss(1.5)
    with pytest.raises(ValueError, match="importance"):
        T.antipodal_loss(0.5, -1.0)
    with pytest.raises(ValueError, match="W"):
        T.classify_n2(torch.zeros(2, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="W"):
        T.classify_n3(torch.zeros(2, 2), torch.zeros(2))


def test_trained_pair_matches_the_theory_at_its_parameters():
    """What train learns on n = 2, m = 1 at low density is an antipodal pair whose loss pair_loss gives."""
    from tms_tutorial import train

    features = SparseFeatures(2, 0.05, torch.tensor([1.0, 1.0]))
    model = ToyModel(2, 1, n_instances=2)
    train(model, features, steps=1500, lr=1e-2, progress=False)
    W, b = model.W.detach().double(), model.b.detach().double()
    assert T.classify_n2(W, b).tolist() == ["antipodal pair"] * 2
    for k in range(2):
        a, c = W[k, 0, 0].abs(), W[k, 0, 1].abs()  # W = [a, -c] up to a sign
        mean, spread = sampled_loss(W[k], b[k], 0.05, [1.0, 1.0])
        assert close(T.pair_loss(a, c, b[k, 0], b[k, 1], 0.05).item(), mean, spread)


def test_evaluate_of_small_models_agrees_with_the_exact_loss():
    """evaluate's decomposed estimate for n = 2, m = 1 against pair_loss, which covers any signs:
    W = [w1, w2] is the pair with a = w1, c = -w2."""
    from tms_tutorial import evaluate

    p = torch.tensor([1.0, 0.3, 0.03])
    features = SparseFeatures(2, p, torch.tensor([1.0, 0.6]))
    model = ToyModel(2, 1, n_instances=3, seed=5)
    with torch.no_grad():
        model.b.copy_(torch.tensor([[0.1, -0.2], [0.0, 0.05], [-0.1, 0.1]]))
    W, b = model.W.detach().double(), model.b.detach().double()
    exact = T.pair_loss(W[:, 0, 0], -W[:, 0, 1], b[:, 0], b[:, 1], p.double(), 1.0, 0.6)
    estimate = evaluate(model, features, batch_size=200_000).double()
    assert torch.allclose(estimate, exact, rtol=0.02)


def test_relu_moments_match_sampling():
    a = torch.tensor([2.0, -1.5, 0.0, 0.7, -0.3, 1e-14, 0.0])
    c = torch.tensor([-0.5, 0.8, 0.3, 0.1, -0.2, 0.4, -0.1])
    u = torch.rand(1_000_000, 1, generator=torch.Generator().manual_seed(0))
    square, first = relu_moments(a, c)
    assert torch.allclose(square, (torch.relu(a * u + c) ** 2).mean(0), atol=2e-3)
    assert torch.allclose(first, (u * torch.relu(a * u + c)).mean(0), atol=2e-3)


def test_relu_moments_have_finite_gradients_everywhere():
    a = torch.tensor([0.0, 1e-20, -2.0, 3.0], requires_grad=True)
    c = torch.tensor([0.5, -0.5, 1.0, -4.0], requires_grad=True)
    sum(relu_moments(a, c)).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(c.grad).all()


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_single_feature_loss_matches_sampling(activation):
    model = ToyModel(3, 2, n_instances=2, activation=activation, seed=1)
    with torch.no_grad():
        model.b.uniform_(-0.4, 0.4, generator=torch.Generator().manual_seed(2))
    importance = torch.tensor([[1.0, 0.7, 0.2], [0.5, 1.0, 2.0]])
    exact = single_feature_loss(model.W, model.b, importance, activation)
    u = torch.rand(2, 400_000, 1, generator=torch.Generator().manual_seed(3))
    for j in range(3):
        x = u * torch.nn.functional.one_hot(torch.tensor(j), 3)  # only feature j active
        sampled = reconstruction_loss(x, model(x), importance)
        assert torch.allclose(exact[:, j], sampled, rtol=0.01, atol=1e-4)


def test_benefit_and_interference_add_up_to_the_single_feature_loss():
    model = ToyModel(4, 2, n_instances=2, seed=3)
    with torch.no_grad():
        model.b.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(1))
    importance = torch.tensor([[1.0, 0.5, 0.3, 2.0], [1.0, 1.0, 1.0, 1.0]])
    W, b = model.W.detach(), model.b.detach()
    benefit, interference = T.benefit_and_interference(W, b, importance)
    assert torch.allclose(benefit + interference, single_feature_loss(W, b, importance, "relu"), atol=1e-6)
    # a feature with no direction and no bias: benefit I_j / 3 (its whole variance around 0), no interference
    W[0, :, 0] = 0
    benefit, interference = T.benefit_and_interference(W, torch.zeros(2, 4), importance)
    assert benefit[0, 0].item() == pytest.approx(1 / 3) and interference[0, 0].item() == pytest.approx(0.0)


def test_classify_n5_on_hand_made_weights():
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])
    two_digons = torch.tensor([[0.0, 1, -1, 0, 0], [0, 0, 0, 1, -1]])
    four_apart = torch.tensor([[0.0, 1, 0, -1, 0.7], [0, 0, 1, 0, 0.7]])  # four learned, one pair and two apart
    names = T.classify_n5(torch.stack([pentagon, two_digons, rotation(0.7) @ two_digons, four_apart]))
    assert names.tolist() == ["pentagon", "two digons", "two digons", "other"]
    with pytest.raises(ValueError, match="n = 5"):
        T.classify_n5(torch.zeros(2, 4))


def test_loss_by_active_features_matches_the_closed_forms():
    """The sampled terms L_0, L_{j} of a trained-looking model agree with theory's closed forms."""
    from tms_tutorial import loss_by_active_features

    features = SparseFeatures(4, 0.1, torch.tensor([1.0, 0.7, 0.5, 0.3]))
    model = ToyModel(4, 2, seed=2)
    with torch.no_grad():
        model.b.copy_(torch.tensor([[0.1, -0.2, 0.05, -0.1]]))
    mean, error = loss_by_active_features(model, features, samples=1_000_000, seed=3)
    importance = features.importance_matrix(1)
    W, b = model.W.detach(), model.b.detach()
    exact = torch.cat([T.empty_loss(b, importance, "relu")[:, None], single_feature_loss(W, b, importance, "relu")], 1)
    assert (torch.abs(mean - exact) < 5 * error + 1e-7).all(), (mean, exact, error)


def test_closed_forms_refuse_unknown_activations():
    W, b, importance = torch.zeros(1, 2, 3), torch.zeros(1, 3), torch.ones(1, 3)
    for function in (lambda: T.empty_loss(b, importance, "tanh"),
                     lambda: single_feature_loss(W, b, importance, "tanh"),
                     lambda: T.benefit_and_interference(W, b, importance, "tanh")):
        with pytest.raises(ValueError, match="activation"):
            function()


def test_compressed_sensing_bound_is_one_over_p_log_one_over_p():
    p = torch.tensor([0.5, 0.1, 0.001, 1.0])
    bound = T.compressed_sensing_bound(p, constant=2.0)
    expected = 1 / (2.0 * p[:3] * torch.log(1 / p[:3]))
    assert torch.allclose(bound[:3].float(), expected, rtol=1e-5)
    assert math.isinf(bound[3].item())  # dense: the bound says nothing
    assert T.compressed_sensing_bound(0.01).item() > T.compressed_sensing_bound(0.1).item()
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="p must lie in"):
            T.compressed_sensing_bound(bad)
    with pytest.raises(ValueError, match="constant"):
        T.compressed_sensing_bound(0.1, constant=0)
