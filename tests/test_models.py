"""ToyModel: the paper's linear and ReLU-output models, and the loss."""

import math

import pytest
import torch

from tms_tutorial import ToyModel, reconstruction_loss


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


def autograd_gradients(model, x, importance):
    model.zero_grad()
    reconstruction_loss(x, model(x), importance).sum().backward()
    return model.W.grad.clone(), model.b.grad.clone()


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("n_features, n_hidden", [(12, 4), (10, 4)])  # through h = W x, through G = W^T W
def test_hand_written_gradients_equal_autograd_on_a_fixed_batch(activation, n_features, n_hidden):
    model = ToyModel(n_features, n_hidden, n_instances=5, activation=activation, seed=2)
    with torch.no_grad():
        model.b.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(0))
    p = torch.tensor([1.0, 0.5, 0.2, 0.05, 0.01])[:, None, None]
    u = torch.rand(5, 256, n_features, generator=torch.Generator().manual_seed(1))
    x = torch.where(u < p, torch.rand(5, 256, n_features, generator=torch.Generator().manual_seed(2)), 0.0)
    importance = 0.8 ** torch.arange(float(n_features)).expand(5, n_features)
    W_grad, b_grad = autograd_gradients(model, x, importance)

    model.zero_grad()
    loss = model.accumulate_gradients(x, importance, batch_size=256, with_loss=True)
    assert torch.allclose(model.W.grad, W_grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(model.b.grad, b_grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(loss, reconstruction_loss(x, model(x), importance), rtol=1e-5)


def test_gradients_accumulate_over_chunks_to_the_whole_batch():
    model = ToyModel(6, 2, n_instances=3, seed=4)
    x = torch.rand(3, 100, 6, generator=torch.Generator().manual_seed(0)) * (torch.rand(3, 100, 6) < 0.3)
    importance = torch.ones(3, 6)
    W_grad, b_grad = autograd_gradients(model, x, importance)
    model.zero_grad()
    for chunk in x.split(32, dim=1):
        model.accumulate_gradients(chunk.contiguous(), importance, batch_size=100)
    assert torch.allclose(model.W.grad, W_grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(model.b.grad, b_grad, rtol=1e-4, atol=1e-6)
