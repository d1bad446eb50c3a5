"""fast.dense: the hand-written gradients equal autograd's on the same batch."""

import pytest
import torch

from tms_tutorial import ToyModel, reconstruction_loss
from tms_tutorial.data import chunk_size
from tms_tutorial.fast.dense import dense_gradients


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

    loss, grad_W, grad_b = dense_gradients(model.W.detach(), model.b.detach(), x, importance, 256, activation, True)
    assert torch.allclose(grad_W, W_grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(grad_b, b_grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(loss, reconstruction_loss(x, model(x), importance), rtol=1e-5)


def test_gradients_summed_over_chunks_are_the_whole_batchs():
    model = ToyModel(6, 2, n_instances=3, seed=4)
    x = torch.rand(3, 100, 6, generator=torch.Generator().manual_seed(0)) * (torch.rand(3, 100, 6) < 0.3)
    importance = torch.ones(3, 6)
    W_grad, b_grad = autograd_gradients(model, x, importance)
    parts = [dense_gradients(model.W.detach(), model.b.detach(), chunk.contiguous(), importance, 100, "relu")
             for chunk in x.split(32, dim=1)]
    assert torch.allclose(sum(part[1] for part in parts), W_grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(sum(part[2] for part in parts), b_grad, rtol=1e-4, atol=1e-6)


def test_chunk_size_fits_the_cache_and_the_batch():
    assert chunk_size(10, 5, 1024) == 1024  # small models: one chunk per batch
    assert chunk_size(40, 400, 1024) == 32  # 40 x 32 x 400 floats = 2 MB
    assert chunk_size(4000, 2, 1024) == 64
    assert chunk_size(1, 10**6, 1024) == 16  # never fewer rows than 16


def test_unknown_activation_is_refused_not_treated_as_linear():
    model = ToyModel(4, 2)
    with pytest.raises(ValueError, match="activation"):
        dense_gradients(model.W.detach(), model.b.detach(), torch.rand(1, 8, 4), torch.ones(1, 4), 8, "gelu")
