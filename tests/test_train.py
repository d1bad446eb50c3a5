"""train: model-agnostic, seeded, batched over instances, and it finds the paper's solutions."""

import math

import numpy as np
import pytest
import torch

from torch import nn

from tms_tutorial import (ComputationModel, NeuronModel, NonFiniteLossError, SetFeatures, SignedFeatures,
                          SparseFeatures, ToyModel, evaluate, fast, metrics, train)
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


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_fast_path_trains_like_autograd(activation):
    features = SparseFeatures(8, torch.tensor([1.0, 0.3, 0.05]), 0.9 ** torch.arange(8))
    fast, slow = ToyModel(8, 3, 3, activation, seed=1), ToyModel(8, 3, 3, activation, seed=1)
    fast_history = train(fast, features, steps=100, batch_size=300, seed=2, progress=False)
    slow_history = train(slow, features, steps=100, batch_size=300, seed=2, progress=False, use_fast_routes=False)
    assert torch.allclose(fast.W, slow.W, atol=1e-4)
    assert torch.allclose(fast.b, slow.b, atol=1e-4)
    assert np.allclose(fast_history.loss, slow_history.loss, rtol=1e-4, atol=1e-7)


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
    features = SetFeatures(4, 0.05, anticorrelated=[[0, 1], [2, 3]])
    model = ToyModel(4, 2, n_instances=2)
    assert fast.route(model, features) == "dense"
    history = train(model, features, steps=300, lr=1e-2, progress=False)
    assert (history.loss[-5:].mean(axis=0) < history.loss[:5].mean(axis=0)).all()


class Scaler(nn.Module):
    """A model the library has never seen: x' = a x + c per feature, optionally kept at a <= cap."""

    def __init__(self, n_features, n_instances, cap=None):
        super().__init__()
        self.n_features, self.n_instances, self.cap = n_features, n_instances, cap
        self.a = nn.Parameter(torch.zeros(n_instances, n_features))
        self.c = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, x):
        return self.a[:, None, :] * x + self.c[:, None, :]

    def loss(self, x, target, importance):
        return ((self(x) - target) ** 2 * importance[:, None, :]).sum(dim=2).mean(dim=1)

    def after_step(self):
        if self.cap is not None:
            with torch.no_grad():
                self.a.clamp_(max=self.cap)


def test_a_model_defined_in_a_test_trains_through_train():
    """The optimum of x' = a x + c for target x is a = 1, c = 0; the trainer finds it without knowing the model."""
    model = Scaler(3, 2)
    assert fast.route(model, SparseFeatures(3, 0.5)) is None
    history = train(model, SparseFeatures(3, torch.tensor([0.5, 0.2])), steps=1500, lr=1e-2, progress=False)
    assert torch.allclose(model.a, torch.ones(2, 3), atol=0.03)
    assert torch.allclose(model.c, torch.zeros(2, 3), atol=0.03)
    assert (history.loss[-1] < 0.01 * history.loss[0]).all()


def test_after_step_keeps_the_models_invariant():
    model = Scaler(3, 1, cap=0.6)
    train(model, SparseFeatures(3, 0.5), steps=500, lr=1e-2, progress=False)
    assert torch.allclose(model.a, torch.full((1, 3), 0.6))


def test_the_target_comes_from_the_features():
    """With SignedFeatures the target is |x|: the best x' = a x + c for x ~ U[-1, 1] is a = 0, c = E|x| = 1/2."""
    model = Scaler(2, 1)
    train(model, SignedFeatures(2, 1.0), steps=1500, lr=1e-2, progress=False)
    assert torch.allclose(model.a, torch.zeros(1, 2), atol=0.03)
    assert torch.allclose(model.c, torch.full((1, 2), 0.5), atol=0.03)


def test_non_finite_loss_stops_training_naming_step_and_instances():
    model = Scaler(3, 2)
    with pytest.raises(NonFiniteLossError, match=r"step 1 .*instances \[0, 1\]"):
        train(model, SparseFeatures(3, 1.0), steps=20, lr=1e30, log_every=1, progress=False)


def test_snapshots_keep_every_parameter_at_the_chosen_steps():
    model = ToyModel(5, 2, 3, seed=1)
    start = model.W.detach().clone()
    history = train(model, SparseFeatures(5, 0.1), steps=100, snapshots=25, progress=False)
    assert history.snapshot_steps.tolist() == [0, 25, 50, 75, 100]
    assert history.snapshots["W"].shape == (5, 3, 2, 5) and history.snapshots["b"].shape == (5, 3, 5)
    assert np.array_equal(history.snapshots["W"][0], start.numpy())
    assert np.array_equal(history.snapshots["W"][-1], model.W.detach().numpy())
    chosen = train(ToyModel(5, 2, 3), SparseFeatures(5, 0.1), steps=100, snapshots=[1, 3, 90], progress=False)
    assert chosen.snapshot_steps.tolist() == [1, 3, 90]
    with pytest.raises(ValueError, match="snapshots"):
        train(ToyModel(5, 2, 3), SparseFeatures(5, 0.1), steps=10, snapshots=[20], progress=False)


def test_callback_sees_every_logged_step():
    seen = []
    train(ToyModel(5, 2, 2), SparseFeatures(5, 0.1), steps=50, log_every=10, progress=False,
          callback=lambda step, model, loss: seen.append((step, tuple(loss.shape))))
    assert seen == [(step, (2,)) for step in range(0, 50, 10)]


def test_neuron_model_trains_through_train():
    features = SparseFeatures(10, torch.tensor([1.0, 0.1]), 0.75 ** torch.arange(10))
    model = NeuronModel(10, 5, n_instances=2, seed=0)
    before = evaluate(model, features)
    train(model, features, steps=2000, lr=1e-2, progress=False)
    assert (evaluate(model, features) < 0.5 * before).all()


def test_computation_model_learns_the_absolute_value():
    """n = 3, m = 6: enough neurons for a pair per feature, so the loss falls far below predicting 0."""
    features = SignedFeatures(3, 0.3)
    model = ComputationModel(3, 6, n_instances=4, seed=0)
    zero_output = features.importance_matrix(4).sum(dim=1) * 0.3 / 3  # E[I |x|^2] = p / 3 per feature
    train(model, features, steps=3000, lr=1e-2, progress=False)
    assert evaluate(model, features).min() < 0.05 * zero_output[0]


def test_l1_penalty_trains_through_autograd_and_shrinks_the_hidden_layer():
    features = SparseFeatures(6, 0.1)
    plain, penalized = ToyModel(6, 3, 2, seed=0), ToyModel(6, 3, 2, seed=0, l1_coefficient=0.1)
    assert fast.route(plain, features) == "dense" and fast.route(penalized, features) is None
    train(plain, features, steps=1000, lr=1e-2, progress=False)
    train(penalized, features, steps=1000, lr=1e-2, progress=False)
    x, _ = features.sample(10_000, 2, rng=5)
    assert penalized.hidden(x).abs().sum() < 0.8 * plain.hidden(x).abs().sum()


def test_numpy_numbers_are_accepted_where_python_numbers_are():
    model = ToyModel(np.int64(5), np.int64(2), np.int64(2), seed=np.int64(3))
    history = train(model, SparseFeatures(np.int64(5), np.float32(0.1)), steps=np.int64(20), batch_size=np.int64(64),
                    lr=np.float32(1e-3), weight_decay=np.float64(0.01), log_every=np.int64(5), seed=np.int64(1),
                    progress=False)
    assert history.loss.shape == (4, 2)


@pytest.mark.parametrize("kwargs, name", [
    (dict(weight_decay=float("inf")), "weight_decay"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(seed=2**64), "seed"),
    (dict(seed=-1), "seed"),
    (dict(lr=True), "lr"),
])
def test_more_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        train(ToyModel(3, 2), SparseFeatures(3, 0.5), steps=5, progress=False, **kwargs)


def test_seeds_up_to_the_largest_allowed_work_on_every_route():
    for model, features in [(ToyModel(2, 1), SparseFeatures(2, 0.5)), (ToyModel(6, 2), SparseFeatures(6, 0.5)),
                            (NeuronModel(6, 2), SparseFeatures(6, 0.5)), (Scaler(3, 1), SparseFeatures(3, 0.5))]:
        train(model, features, steps=2, seed=2**63 - 1, progress=False)


def test_history_and_schedule_refuse_what_has_no_meaning():
    history = train(ToyModel(3, 2), SparseFeatures(3, 0.5), steps=20, progress=False)
    with pytest.raises(ValueError, match="last"):
        history.final_loss(last=0)
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(0, 10, "exponential")
    with pytest.raises(ValueError, match="step"):
        lr_factor(10, 10, "cosine")


def test_a_per_instance_l1_coefficient_trains_each_instance_as_its_own_model():
    features = SparseFeatures(6, 0.2)
    together = ToyModel(6, 3, 2, seed=0, l1_coefficient=[0.0, 0.2])
    train(together, features, steps=50, lr=1e-2, progress=False, threads=1)
    for k, coefficient in enumerate((0.0, 0.2)):
        alone = ToyModel(6, 3, 2, seed=0, l1_coefficient=coefficient)
        train(alone, features, steps=50, lr=1e-2, progress=False, threads=1, use_fast_routes=False)
        assert torch.allclose(alone.W[k], together.W[k], atol=1e-5)
    assert together.penalized and not ToyModel(6, 3, 2, l1_coefficient=[0.0, 0.0]).penalized
    assert "per instance" in repr(together)
