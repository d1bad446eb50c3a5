"""fast.neuron: the NeuronModel and ComputationModel routes draw their batches; their gradients are autograd's."""

import numpy as np
import pytest
import torch

from tms_tutorial import ComputationModel, NeuronModel, SignedFeatures, SparseFeatures, evaluate, fast, train
from tms_tutorial.data import UniformStream
from tms_tutorial.fast.neuron import computation_step, group_size, neuron_gradients, neuron_step


def test_gradients_equal_autograd_on_a_fixed_batch():
    model = NeuronModel(10, 5, n_instances=4, seed=1)
    with torch.no_grad():
        model.b.normal_(generator=torch.Generator().manual_seed(0))
    p = torch.tensor([1.0, 0.3, 0.05, 0.0])[:, None, None]
    u = torch.rand(4, 200, 10, generator=torch.Generator().manual_seed(1))
    x = torch.where(u < p, torch.rand(4, 200, 10, generator=torch.Generator().manual_seed(2)), 0.0)
    importance = torch.rand(4, 10, generator=torch.Generator().manual_seed(3))
    loss = model.loss(x, x, importance)
    loss.sum().backward()
    ours, grad_W, grad_b = neuron_gradients(model.W.detach(), model.b.detach(), x.transpose(1, 2).contiguous(),
                                            importance, 200, with_loss=True)
    assert torch.allclose(ours, loss.detach(), rtol=1e-5)
    assert torch.allclose(grad_W, model.W.grad, atol=1e-6)
    assert torch.allclose(grad_b, model.b.grad, atol=1e-6)


def test_step_draws_the_feature_distribution_and_sets_autograds_gradients():
    """One step, redone by hand: the same uniform numbers as x = ReLU(1 - u/p), then autograd on model.loss."""
    features = SparseFeatures(10, torch.tensor([1.0, 0.2, 0.0]), 0.75 ** torch.arange(10))
    model = NeuronModel(10, 5, n_instances=3, seed=2)
    assert group_size(3, 10, 256) == 3  # one group: the whole batch is one fill of the stream
    loss = neuron_step(model, features, batch_size=256, seed=7)(True)
    grad_W, grad_b = model.W.grad.clone(), model.b.grad.clone()

    xT = UniformStream(7).fill(torch.empty(3, 10, 256))
    x = features.transform(xT.transpose(1, 2))  # the same numbers, the same transform
    assert (x[2] == 0).all() and abs((x[1] > 0).float().mean().item() - 0.2) < 0.02
    model.W.grad = model.b.grad = None
    expected = model.loss(x, x, features.importance_matrix(3))
    expected.sum().backward()
    assert torch.allclose(loss, expected.detach(), rtol=1e-5)
    assert torch.allclose(grad_W, model.W.grad, atol=1e-6)
    assert torch.allclose(grad_b, model.b.grad, atol=1e-6)


def test_fast_route_reaches_autograds_loss():
    features = SparseFeatures(10, torch.tensor([1.0, 0.1, 0.03]), 0.75 ** torch.arange(10))
    assert fast.route(NeuronModel(10, 5, 3), features) == "neuron"
    fast_model, slow_model = NeuronModel(10, 5, 3, seed=4), NeuronModel(10, 5, 3, seed=4)
    train(fast_model, features, steps=1500, lr=3e-3, seed=1, progress=False)
    train(slow_model, features, steps=1500, lr=3e-3, seed=1, progress=False, use_fast_routes=False)
    fast_loss, slow_loss = evaluate(fast_model, features), evaluate(slow_model, features)
    assert np.allclose(fast_loss, slow_loss, rtol=0.05), (fast_loss, slow_loss)
    assert (fast_loss < 0.6 * evaluate(NeuronModel(10, 5, 3, seed=4), features)).all()


@pytest.mark.parametrize("n_instances, expected", [(1000, 51), (7, 7), (1, 1)])
def test_groups_fit_the_cache(n_instances, expected):
    assert group_size(n_instances, 10, 1024) == expected


def assert_autograd_agrees(model, features, x, loss, grads):
    """model.loss on the batch x, through autograd, gives the route's loss and gradients (W1, W2, b)."""
    model.zero_grad(set_to_none=True)
    expected = model.loss(x, features.target(x), features.importance_matrix(model.n_instances))
    expected.sum().backward()
    assert torch.allclose(loss, expected.detach(), rtol=1e-5)
    for ours, theirs in zip(grads, [model.W1.grad, model.W2.grad, model.b.grad]):
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_computation_step_draws_signed_features_and_sets_autograds_gradients():
    """The absolute-value model: untied W1, W2, signed inputs, target |x|; one step redone through autograd."""
    features = SignedFeatures(12, torch.tensor([1.0, 0.2, 0.0]), 0.8 ** torch.arange(12))
    model = ComputationModel(12, 6, n_instances=3, seed=2)
    with torch.no_grad():
        model.b.normal_(generator=torch.Generator().manual_seed(0))
    assert fast.route(model, features) == "computation"
    assert fast.route(ComputationModel(12, 6, 3, l1_coefficient=0.1), features) is None  # the penalty: autograd
    loss = computation_step(model, features, batch_size=256, seed=7)(True)
    grads = [model.W1.grad.clone(), model.W2.grad.clone(), model.b.grad.clone()]

    xT = UniformStream(7).fill(torch.empty(3, 12, 256))
    x = features.transform(xT.transpose(1, 2))
    assert (x[2] == 0).all() and (x[0] < 0).any() and abs((x[1] != 0).float().mean().item() - 0.2) < 0.02
    assert_autograd_agrees(model, features, x, loss, grads)


def test_computation_step_in_groups_sets_autograds_gradients():
    """Many instances: the route draws and works a group of instances at a time, each group's numbers
    the next fill of the stream; redone by hand group by group, then through autograd."""
    features = SignedFeatures(64, torch.logspace(0, -2, 44))
    model = ComputationModel(64, 10, 44, seed=4)
    group = group_size(44, 64, 1024)
    assert 1 < group < 44 and 44 % group != 0  # several groups, the last one short
    loss = computation_step(model, features, batch_size=1024, seed=3)(True)
    grads = [model.W1.grad.clone(), model.W2.grad.clone(), model.b.grad.clone()]

    rng = UniformStream(3)
    u = torch.cat([rng.fill(torch.empty(min(group, 44 - first), 64, 1024)) for first in range(0, 44, group)])
    assert_autograd_agrees(model, features, features.transform(u.transpose(1, 2)), loss, grads)


def test_computation_route_trains_as_autograd_does():
    features = SignedFeatures(20, torch.tensor([1.0, 0.3, 0.1, 0.03]))
    fast_model, slow_model = ComputationModel(20, 10, 4, seed=4), ComputationModel(20, 10, 4, seed=4)
    train(fast_model, features, steps=500, lr=1e-2, seed=1, progress=False)
    train(slow_model, features, steps=500, lr=1e-2, seed=1, progress=False, use_fast_routes=False)
    fast_loss, slow_loss = evaluate(fast_model, features), evaluate(slow_model, features)
    assert abs(float(fast_loss.mean()) / float(slow_loss.mean()) - 1) < 0.05, (fast_loss, slow_loss)
    assert (fast_loss < 0.75 * evaluate(ComputationModel(20, 10, 4, seed=4), features)).all()  # it learned
