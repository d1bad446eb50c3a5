"""train: seeded, batched over instances, and it finds the paper's solutions."""

import math

import numpy as np
import pytest
import torch

from tms_tutorial import SparseFeatures, ToyModel, best_of, evaluate, metrics, train
from tms_tutorial.train import lr_factor


def test_same_seed_gives_bit_identical_weights():
    features = SparseFeatures(5, torch.tensor([1.0, 0.1, 0.03]), 0.9 ** torch.arange(5))
    runs = []
    for _ in range(2):
        model = ToyModel(5, 2, 3, seed=0)
        history = train(model, features, steps=200, seed=11, progress=False)
        runs.append((model.W.detach().clone(), model.b.detach().clone(), history.loss))
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])
    assert np.array_equal(runs[0][2], runs[1][2])
    other = ToyModel(5, 2, 3, seed=0)
    train(other, features, steps=200, seed=12, progress=False)
    assert not torch.equal(other.W, runs[0][0])


def test_history_records_every_instance():
    model = ToyModel(3, 2, 4)
    history = train(model, SparseFeatures(3, 0.5), steps=95, log_every=10, progress=False)
    assert history.steps.tolist() == list(range(0, 95, 10))
    assert history.loss.shape == (10, 4)
    assert history.final_loss(3).shape == (4,)
    assert (history.loss[-1] < history.loss[0]).all()


def test_instances_train_independently():
    """An instance's result does not depend on its neighbours' densities, among instances that
    share a route (here both drawn whole: n_features > 4 and too dense for the active-entry route)."""
    features = SparseFeatures(6, torch.tensor([0.5, 0.5]))
    model = ToyModel(6, 2, 2, seed=3)
    with torch.no_grad():
        model.W[1] = model.W[0]
    train(model, SparseFeatures(6, torch.tensor([0.5, 0.3])), steps=50, progress=False)
    twin = ToyModel(6, 2, 2, seed=3)
    with torch.no_grad():
        twin.W[1] = twin.W[0]
    train(twin, features, steps=50, progress=False)
    assert torch.equal(model.W[0], twin.W[0])
    assert not torch.equal(model.W[1], twin.W[1])


def test_lr_schedules():
    assert lr_factor(500, 1000, "constant") == 1.0
    assert lr_factor(0, 1000, "linear") == 1.0
    assert lr_factor(500, 1000, "linear") == pytest.approx(0.5)
    assert lr_factor(999, 1000, "linear") == pytest.approx(0.001)
    assert lr_factor(500, 1000, "cosine") == pytest.approx(0.5)
    assert lr_factor(0, 1000, "cosine", warmup_steps=100) == pytest.approx(0.01)
    assert lr_factor(99, 1000, "cosine", warmup_steps=100) == pytest.approx(1.0)
    assert lr_factor(100, 1000, "cosine", warmup_steps=100) == pytest.approx(1.0)
    assert lr_factor(550, 1000, "cosine", warmup_steps=100) == pytest.approx(0.5)


def test_linear_model_keeps_only_the_top_m_features_at_high_sparsity():
    n, m = 10, 3
    model = ToyModel(n, m, n_instances=2, activation="linear")
    train(model, SparseFeatures(n, 0.05, 0.7 ** torch.arange(n)), steps=3000, lr=3e-3, progress=False)
    norms = metrics.feature_norms(model.W)
    assert (norms[:, :m] > 0.9).all()
    assert (norms[:, m:] < 0.1).all()
    assert (metrics.superposition(model.W) < 0.05).all()


def test_relu_model_at_90_percent_sparsity_learns_a_pentagon():
    features = SparseFeatures(5, 0.1, 0.9 ** torch.arange(5))
    model = ToyModel(5, 2, n_instances=6)
    train(model, features, progress=False)
    W = model.W.detach()[evaluate(model, features).argmin()]  # (2, 5)
    assert (W.norm(dim=0) > 0.9).all()
    angles = torch.sort(torch.atan2(W[1], W[0])).values
    gaps = torch.diff(torch.cat([angles, angles[:1] + 2 * math.pi]))
    assert torch.allclose(gaps, torch.full((5,), 2 * math.pi / 5), atol=math.radians(8))
    assert torch.allclose(metrics.feature_dimensionality(W[None]), torch.full((1, 5), 0.4), atol=0.05)


def test_evaluate_is_deterministic_and_ranks_fits():
    features = SparseFeatures(5, 0.1)
    model = ToyModel(5, 2, 2)
    with torch.no_grad():
        model.W.zero_()
        model.W[1, 0, 0] = 1.0  # instance 1 reconstructs feature 0 perfectly
    loss = evaluate(model, features, batch_size=20_000)
    assert torch.equal(loss, evaluate(model, features, batch_size=20_000))
    assert loss[1] < loss[0]
    # An all-zero model loses E[sum x_i^2] = n p / 3.
    assert loss[0].item() == pytest.approx(5 * 0.1 / 3, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(steps=0), "steps"),
        (dict(batch_size=-4), "batch_size"),
        (dict(lr=-1e-3), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(schedule="step"), "schedule"),
        (dict(warmup_steps=20), "warmup_steps"),
        (dict(log_every=0), "log_every"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    arguments = dict(steps=10, progress=False) | kwargs
    with pytest.raises(ValueError, match=name):
        train(ToyModel(3, 2), SparseFeatures(3, 0.5), **arguments)


def test_mismatched_features_raise():
    with pytest.raises(ValueError, match="n_features"):
        train(ToyModel(3, 2), SparseFeatures(4, 0.5), steps=10, progress=False)
    with pytest.raises(ValueError, match="features"):
        train(ToyModel(3, 2), "not features", steps=10, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda():
    model = ToyModel(5, 2, 3).cuda()
    history = train(model, SparseFeatures(5, 0.1), steps=100, progress=False)
    assert model.W.is_cuda and history.loss.shape == (10, 3)


def test_best_of_picks_the_lowest_loss_in_each_group():
    loss = torch.tensor([0.3, 0.1, 0.2, 5.0, 4.0, 6.0])
    assert best_of(loss, 3).tolist() == [1, 4]
    assert best_of(loss, 1).tolist() == list(range(6))
    with pytest.raises(ValueError, match="restarts"):
        best_of(loss, 4)


class AutogradOnly(torch.nn.Module):
    """A ToyModel seen through forward() alone, so that train falls back to autograd."""

    def __init__(self, model: ToyModel) -> None:
        super().__init__()
        self.inner = model
        self.W = model.W
        self.n_instances, self.n_features = model.n_instances, model.n_features

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_fast_path_trains_like_autograd(activation):
    features = SparseFeatures(8, torch.tensor([1.0, 0.3, 0.05]), 0.9 ** torch.arange(8))
    fast, slow = ToyModel(8, 3, 3, activation, seed=1), ToyModel(8, 3, 3, activation, seed=1)
    fast_history = train(fast, features, steps=100, batch_size=300, seed=2, progress=False)
    slow_history = train(AutogradOnly(slow), features, steps=100, batch_size=300, seed=2, progress=False)
    assert torch.allclose(fast.W, slow.W, atol=1e-4)
    assert torch.allclose(fast.b, slow.b, atol=1e-4)
    assert np.allclose(fast_history.loss, slow_history.loss, rtol=1e-4, atol=1e-7)


def test_chunk_size_fits_the_cache_and_the_batch():
    from tms_tutorial.train import chunk_size

    assert chunk_size(10, 5, 1024) == 1024  # small models: one chunk per batch
    assert chunk_size(40, 400, 1024) == 32  # 40 x 32 x 400 floats = 2 MB
    assert chunk_size(4000, 2, 1024) == 64
    assert chunk_size(1, 10**6, 1024) == 16  # never fewer rows than 16


def test_small_models_take_the_decomposed_loss():
    from tms_tutorial.train import uses_decomposition

    assert uses_decomposition(ToyModel(2, 1), SparseFeatures(2, 0.1))
    assert uses_decomposition(ToyModel(4, 2), SparseFeatures(4, 0.1))
    assert not uses_decomposition(ToyModel(5, 2), SparseFeatures(5, 0.1))
    assert not uses_decomposition(AutogradOnly(ToyModel(2, 1)), SparseFeatures(2, 0.1))


def test_decomposed_training_is_seeded():
    features = SparseFeatures(3, torch.tensor([1.0, 0.2, 0.02]), torch.tensor([1.0, 0.5, 2.0]))
    runs = []
    for seed in (5, 5, 6):
        model = ToyModel(3, 2, n_instances=3, seed=0)
        train(model, features, steps=100, seed=seed, progress=False)
        runs.append(model.W.detach().clone())
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_decomposed_training_finds_the_antipodal_pair():
    """n = 2, m = 1, equal importance, sparse: both features share the line, W = [1, -1] up to sign."""
    model = ToyModel(2, 1, n_instances=4)
    train(model, SparseFeatures(2, 0.05), steps=4000, lr=3e-3, progress=False)
    W = model.W.detach()[evaluate(model, SparseFeatures(2, 0.05)).argmin(), 0]
    assert torch.allclose(W.abs(), torch.ones(2), atol=0.1)
    assert W[0] * W[1] < 0


def test_feature_sets_train_on_their_own_distribution():
    """SetFeatures are not independent, so train draws whole batches from them (no decomposition)."""
    from tms_tutorial.data import SetFeatures
    from tms_tutorial.train import uses_decomposition

    features = SetFeatures(4, 0.05, anticorrelated=[[0, 1], [2, 3]])
    model = ToyModel(4, 2, n_instances=2)
    assert not uses_decomposition(model, features)
    history = train(model, features, steps=300, lr=1e-2, progress=False)
    assert (history.loss[-5:].mean(axis=0) < history.loss[:5].mean(axis=0)).all()
