"""models: the paper's toy, neuron and absolute-value models, each with the loss it owns."""

import math

import pytest
import torch

from tms_tutorial import ComputationModel, NeuronModel, ResampleDuplicates, ToyModel, reconstruction_loss


def test_parameter_shapes_and_initialization():
    model = ToyModel(n_features=40, n_hidden=10, n_instances=50)
    assert model.W.shape == (50, 10, 40)
    assert model.b.shape == (50, 40)
    assert torch.equal(model.b, torch.zeros(50, 40))
    # Xavier-normal per instance: std sqrt(2 / (m + n)).
    assert abs(model.W.std().item() - math.sqrt(2 / 50)) < 0.01


def test_initialization_is_seeded():
    assert torch.equal(ToyModel(5, 2, 3, seed=1).W, ToyModel(5, 2, 3, seed=1).W)
    assert not torch.equal(ToyModel(5, 2, 3, seed=1).W, ToyModel(5, 2, 3, seed=2).W)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_forward_is_the_papers_formula(activation):
    model = ToyModel(4, 2, n_instances=3, activation=activation, seed=5)
    with torch.no_grad():
        model.b.copy_(torch.randn(3, 4, generator=torch.Generator().manual_seed(0)))
    x = torch.rand(3, 6, 4, generator=torch.Generator().manual_seed(1))
    out = model(x)
    for k in range(3):
        W, b = model.W[k], model.b[k]
        for row in range(6):
            expected = W.T @ W @ x[k, row] + b
            if activation == "relu":
                expected = torch.relu(expected)
            assert torch.allclose(out[k, row], expected, atol=1e-6)


def test_relu_output_is_nonnegative_and_linear_is_not():
    x = torch.rand(2, 100, 5)
    relu, linear = ToyModel(5, 2, 2, "relu"), ToyModel(5, 2, 2, "linear")
    assert (relu(x) >= 0).all()
    assert (linear(x) < 0).any()


def test_loss_equals_its_formula_on_a_fixed_batch():
    x = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]])  # (I=1, B=2, n=2)
    x_hat = torch.tensor([[[0.0, 0.0], [0.5, 1.5]]])
    importance = torch.tensor([[2.0, 3.0]])
    # Sample 1: 2 * 1^2 = 2. Sample 2: 3 * 1^2 = 3. Mean over the batch: 2.5.
    assert torch.allclose(reconstruction_loss(x, x_hat, importance), torch.tensor([2.5]))


def test_loss_is_per_instance():
    x = torch.zeros(3, 4, 2)
    x_hat = torch.zeros(3, 4, 2)
    x_hat[1] = 1.0
    loss = reconstruction_loss(x, x_hat, torch.ones(3, 2))
    assert torch.equal(loss, torch.tensor([0.0, 2.0, 0.0]))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_features=0, n_hidden=2), "n_features"),
        (dict(n_features=5, n_hidden=-1), "n_hidden"),
        (dict(n_features=5, n_hidden=2, n_instances=0), "n_instances"),
        (dict(n_features=5, n_hidden=2, activation="tanh"), "activation"),
    ],
)
def test_bad_construction_raises_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ToyModel(**kwargs)


def test_bad_shapes_raise():
    model = ToyModel(5, 2, 3)
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.rand(3, 10, 4))
    with pytest.raises(ValueError, match="x and x_hat"):
        reconstruction_loss(torch.rand(3, 10, 5), torch.rand(3, 9, 5), torch.ones(3, 5))
    with pytest.raises(ValueError, match="importance"):
        reconstruction_loss(torch.rand(3, 10, 5), torch.rand(3, 10, 5), torch.ones(5))


def test_neuron_model_is_the_papers_formula():
    model = NeuronModel(6, 3, n_instances=2, seed=1)
    with torch.no_grad():
        model.b.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(0))
    assert model.W.shape == (2, 3, 6) and model.b.shape == (2, 6)
    x = torch.rand(2, 5, 6, generator=torch.Generator().manual_seed(1))
    out = model(x)
    for k in range(2):
        for row in range(5):
            h = torch.relu(model.W[k] @ x[k, row])
            assert torch.allclose(out[k, row], torch.relu(model.W[k].T @ h + model.b[k]), atol=1e-6)


def test_computation_model_is_the_papers_formula():
    model = ComputationModel(4, 6, n_instances=3, seed=2)
    assert model.W1.shape == (3, 6, 4) and model.W2.shape == (3, 4, 6) and model.b.shape == (3, 4)
    x = torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    out = model(x)
    for k in range(3):
        for row in range(5):
            h = torch.relu(model.W1[k] @ x[k, row])
            assert torch.allclose(out[k, row], torch.relu(model.W2[k] @ h + model.b[k]), atol=1e-6)


def test_pair_of_neurons_computes_the_absolute_value_exactly():
    """ReLU(x) + ReLU(-x) = |x|: W1 = [[1], [-1]], W2 = [[1, 1]], b = 0 has zero loss on signed features."""
    model = ComputationModel(1, 2)
    with torch.no_grad():
        model.W1.copy_(torch.tensor([[[1.0], [-1.0]]]))
        model.W2.copy_(torch.tensor([[[1.0, 1.0]]]))
    x = torch.linspace(-1, 1, 21).reshape(1, 21, 1)
    assert torch.allclose(model(x), x.abs())
    assert model.loss(x, x.abs(), torch.ones(1, 1)).item() == pytest.approx(0.0, abs=1e-12)


def test_the_abs_start_makes_every_output_a_faint_absolute_value():
    model = ComputationModel(5, 8, n_instances=2, seed=4, init="abs", init_scale=0.3)
    assert torch.equal(model.W2, model.W1.abs().transpose(1, 2))
    x = torch.zeros(2, 10, 5)
    x[:, :5] = torch.eye(5) * 0.6
    x[:, 5:] = -torch.eye(5) * 0.6
    out = model(x)  # output i for x = +-0.6 e_i: 0.6 * sum of W1_ji^2 over the neurons j of the matching sign
    for k in range(2):
        for i in range(5):
            w = model.W1[k, :, i]
            assert out[k, i, i].item() == pytest.approx(0.6 * (w.clamp_min(0) ** 2).sum().item(), rel=1e-5)
            assert out[k, 5 + i, i].item() == pytest.approx(0.6 * (w.clamp_max(0) ** 2).sum().item(), rel=1e-5)
    plain = ComputationModel(5, 8, n_instances=2, seed=4, init_scale=0.3)
    assert torch.allclose(plain.W1, model.W1) and torch.allclose(plain.W1, 0.3 * ComputationModel(5, 8, 2, seed=4).W1)
    with pytest.raises(ValueError, match="init must be one of"):
        ComputationModel(5, 8, init="kaiming")
    with pytest.raises(ValueError, match="init_scale"):
        ComputationModel(5, 8, init_scale=0.0)


def test_merging_duplicate_neurons_keeps_the_function_and_frees_the_duplicate():
    """Neurons 0 and 1 read the same direction (1 at twice the scale), neuron 3 writes nothing: both restart."""
    model = ComputationModel(3, 4, n_instances=2, seed=1)
    with torch.no_grad():
        model.W1[0, 1] = 2.0 * model.W1[0, 0]
        model.W2[0, :, 3] = 0.0
    x = torch.rand(2, 50, 3, generator=torch.Generator().manual_seed(2)) * 2 - 1
    before = model(x).detach()
    untouched = [p.detach().clone()[1] for p in (model.W1, model.W2)]
    kept_W1 = model.W1.detach()[0, [0, 2]].clone()
    assert model.merge_duplicates(0.95, torch.Generator().manual_seed(0)) == 2
    # the restarted neurons write nothing, the kept one writes both its own and its twin's share
    assert torch.equal(model.W2[0, :, 1], torch.zeros(3)) and torch.equal(model.W2[0, :, 3], torch.zeros(3))
    assert torch.allclose(model(x), before, atol=1e-5)
    assert torch.equal(model.W1[0, [0, 2]], kept_W1) and not torch.equal(model.W1[0, 1], 2.0 * kept_W1[0])
    assert torch.equal(model.W1[1], untouched[0]) and torch.equal(model.W2[1], untouched[1])  # no duplicate there
    with pytest.raises(ValueError, match="threshold must lie in"):
        model.merge_duplicates(1.0)


def test_the_resampling_callback_runs_every_k_steps_until_its_last_step():
    calls = []

    class Recorder(ComputationModel):
        def merge_duplicates(self, threshold=0.95, generator=None):
            calls.append(threshold)
            return 1

    resample = ResampleDuplicates(every=20, until=60, threshold=0.9)
    model = Recorder(3, 4)
    for step in range(0, 100, 10):
        resample(step, model, None)
    assert calls == [0.9, 0.9, 0.9] and resample.resampled == 3 and resample.log == [(20, 1), (40, 1), (60, 1)]
    with pytest.raises(ValueError, match="merge_duplicates"):
        resample(20, ToyModel(3, 2), None)
    with pytest.raises(ValueError, match="every"):
        ResampleDuplicates(every=0)


@pytest.mark.parametrize("cls", [ToyModel, NeuronModel, ComputationModel])
def test_loss_is_weighted_error_plus_l1_on_the_hidden_layer(cls):
    x = torch.rand(2, 8, 5, generator=torch.Generator().manual_seed(3))
    importance = torch.rand(2, 5, generator=torch.Generator().manual_seed(4))
    plain, penalized = cls(5, 3, 2, seed=1), cls(5, 3, 2, seed=1, l1_coefficient=0.3)
    target = x.flip(2)  # any target of the right shape
    error = ((target - plain(x)) ** 2 * importance[:, None, :]).sum(dim=2).mean(dim=1)
    assert torch.allclose(plain.loss(x, target, importance), error, atol=1e-6)
    l1 = penalized.hidden(x).abs().sum(dim=2).mean(dim=1)
    assert (l1 > 0).all()
    assert torch.allclose(penalized.loss(x, target, importance), error + 0.3 * l1, atol=1e-6)


def test_from_weights_holds_the_given_solution():
    W = torch.tensor([[[1.0, -1.0]]])
    model = ToyModel.from_weights(W, torch.tensor([[0.1, 0.0]]), activation="relu")
    assert torch.equal(model.W.detach(), W) and model.b[0, 0].item() == pytest.approx(0.1)
    assert ToyModel.from_weights(W).b.abs().sum() == 0
    with pytest.raises(ValueError, match="b must have shape"):
        ToyModel.from_weights(W, torch.zeros(2))


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "1"])
def test_bad_l1_coefficient_raises(value):
    with pytest.raises(ValueError, match="l1_coefficient"):
        NeuronModel(5, 2, l1_coefficient=value)


def test_loss_refuses_an_empty_batch_negative_importance_and_integer_input():
    with pytest.raises(ValueError, match="batch > 0"):
        reconstruction_loss(torch.zeros(2, 0, 3), torch.zeros(2, 0, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="importance must be >= 0"):
        reconstruction_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), -torch.ones(2, 3))
    with pytest.raises(ValueError, match="floating-point"):
        ToyModel(3, 2, 2)(torch.zeros(2, 4, 3, dtype=torch.long))


def test_numpy_sizes_and_seeds_build_models():
    import numpy as np

    model = NeuronModel(np.int64(6), np.int32(2), np.int64(3), seed=np.int64(4))
    assert model.W.shape == (3, 2, 6) and isinstance(model.n_features, int)
    with pytest.raises(ValueError, match="seed"):
        ToyModel(3, 2, seed=2**64)
