"""SparseFeatures: the paper's input distribution, and its input checks."""

import math

import pytest
import torch

from tms_tutorial import SparseFeatures
from tms_tutorial.data import UniformStream


def test_sample_shape_and_range():
    x = SparseFeatures(7, 0.3).sample(batch_size=50, n_instances=4, rng=0)[0]
    assert x.shape == (4, 50, 7)
    assert x.min() >= 0 and x.max() <= 1


@pytest.mark.parametrize("p", [1.0, 0.3, 0.05, 0.001])
def test_active_fraction_matches_feature_probability(p):
    n = 1_000_000
    x = SparseFeatures(10, p).sample(batch_size=n // 10, n_instances=1, rng=1)[0]
    active = (x > 0).float().mean().item()
    # Five standard errors of a binomial proportion.
    assert abs(active - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-12


def test_active_values_are_uniform_on_unit_interval():
    x = SparseFeatures(10, 0.2).sample(batch_size=100_000, n_instances=1, rng=2)[0]
    values = x[x > 0]
    assert abs(values.mean().item() - 0.5) < 0.005
    assert abs(values.var().item() - 1 / 12) < 0.002
    assert abs((values < 0.25).float().mean().item() - 0.25) < 0.005


def test_per_instance_probabilities_broadcast():
    p = torch.tensor([1.0, 0.5, 0.1])
    features = SparseFeatures(4, p)
    assert torch.equal(features.probability(3), p[:, None].expand(3, 4))
    x = features.sample(batch_size=100_000, n_instances=3, rng=3)[0]
    active = (x > 0).float().mean(dim=(1, 2))
    assert torch.allclose(active, p, atol=0.005)


def test_per_feature_probabilities_and_importance():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    features = SparseFeatures(2, p, importance=[1.0, 0.5])
    x = features.sample(batch_size=1000, n_instances=2, rng=4)[0]
    assert (x[0, :, 1] == 0).all() and (x[1, :, 0] == 0).all()
    assert (x[0, :, 0] > 0).all()
    assert torch.equal(features.importance_matrix(2), torch.tensor([[1.0, 0.5], [1.0, 0.5]]))


def test_same_seed_same_sample():
    features = SparseFeatures(5, 0.1)
    a = features.sample(64, 3, rng=7)[0]
    b = features.sample(64, 3, rng=7)[0]
    assert torch.equal(a, b)
    assert not torch.equal(a, features.sample(64, 3, rng=8)[0])


def test_uniform_stream_continues_and_repeats():
    first, second = UniformStream(3), UniformStream(3)
    a = first.fill(torch.empty(1000))
    assert torch.equal(a, second.fill(torch.empty(1000)))
    assert not torch.equal(a, first.fill(torch.empty(1000)))
    assert 0 <= a.min() and a.max() < 1


def test_zero_probability_means_never_active():
    x = SparseFeatures(3, torch.tensor([0.0, 1e-30]), importance=1.0).sample(100_000, 2, rng=5)[0]
    assert (x == 0).all()


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        UniformStream(seed)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_features=0), "n_features"),
        (dict(n_features=2.5), "n_features"),
        (dict(n_features=3, feature_probability=1.5), "feature_probability"),
        (dict(n_features=3, feature_probability=-0.1), "feature_probability"),
        (dict(n_features=3, feature_probability=float("nan")), "feature_probability"),
        (dict(n_features=3, feature_probability=torch.ones(2, 4)), "feature_probability"),
        (dict(n_features=3, feature_probability="dense"), "feature_probability"),
        (dict(n_features=3, importance=-1.0), "importance"),
        (dict(n_features=3, importance=torch.ones(4)), "importance"),
    ],
)
def test_bad_construction_raises_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SparseFeatures(**kwargs)


def test_instance_count_mismatch_raises():
    features = SparseFeatures(3, torch.tensor([0.1, 0.2]), importance=torch.ones(2, 3))
    with pytest.raises(ValueError, match="feature_probability"):
        features.sample(10, n_instances=3)[0]
    with pytest.raises(ValueError, match="importance"):
        features.importance_matrix(5)
    with pytest.raises(ValueError, match="batch_size"):
        features.sample(0, n_instances=2)[0]


def test_correlated_sets_switch_together_with_independent_values():
    from tms_tutorial.data import SetFeatures

    features = SetFeatures(5, 0.3, correlated=[[0, 1, 2]])
    x = features.sample(200_000, 1, rng=0)[0][0]
    active = x > 0
    assert torch.equal(active[:, 0], active[:, 1]) and torch.equal(active[:, 0], active[:, 2])
    assert abs(active[:, 0].float().mean().item() - 0.3) < 0.005
    assert abs(active[:, 3].float().mean().item() - 0.3) < 0.005  # the rest stay independent
    both = x[active[:, 0]]
    assert abs(torch.corrcoef(both[:, :3].T)[0, 1].item()) < 0.02  # values independent given the set is on
    assert abs(both[:, 1].mean().item() - 0.5) < 0.005 and abs(both[:, 1].var().item() - 1 / 12) < 0.003
    independent = (active[:, 3] & active[:, 4]).float().mean().item()
    assert abs(independent - 0.09) < 0.004


def test_anticorrelated_sets_have_at_most_one_member_active():
    from tms_tutorial.data import SetFeatures

    features = SetFeatures(4, torch.tensor([0.2, 0.2, 0.6, 0.6]).expand(2, 4), anticorrelated=[[0, 1], [2, 3]])
    x = features.sample(200_000, 2, rng=1)[0]
    active = x > 0
    assert not (active[..., 0] & active[..., 1]).any() and not (active[..., 2] & active[..., 3]).any()
    assert torch.allclose(active.float().mean(dim=1), torch.tensor([0.1, 0.1, 0.3, 0.3]).expand(2, 4), atol=0.005)
    values = x[active]
    assert abs(values.mean().item() - 0.5) < 0.005 and abs(values.var().item() - 1 / 12) < 0.003


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(correlated=[[0]]), "at least two"),
        (dict(correlated=[[0, 7]]), "indices"),
        (dict(correlated=[[0, 1]], anticorrelated=[[1, 2]]), "disjoint"),
        (dict(feature_probability=torch.tensor([[0.1, 0.2, 0.3]]), correlated=[[0, 1]]), "equal"),
    ],
)
def test_bad_sets_raise(kwargs, name):
    from tms_tutorial.data import SetFeatures

    with pytest.raises(ValueError, match=name):
        SetFeatures(3, **kwargs)


def test_signed_features_are_uniform_on_minus_one_to_one_and_their_target_is_the_absolute_value():
    from tms_tutorial import SignedFeatures

    features = SignedFeatures(4, torch.tensor([0.3, 0.0]))
    x, target = features.sample(200_000, 2, rng=3)
    active = x[0] != 0
    assert abs(active.double().mean().item() - 0.3) < 4 * (0.3 * 0.7 / 800_000) ** 0.5
    values = x[0][active].double()
    assert values.min() >= -1 and values.max() <= 1
    assert abs(values.mean().item()) < 0.005  # U[-1, 1]: mean 0, variance 1/3
    assert abs(values.var().item() - 1 / 3) < 0.005
    assert (x[1] == 0).all()  # density 0: never active
    assert torch.equal(target, x.abs())


def test_autoencoding_features_return_the_input_as_target():
    x, target = SparseFeatures(3, 0.5).sample(10, 2, rng=0)
    assert target is x
