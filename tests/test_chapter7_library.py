"""The pieces chapter 7 adds: the MLP, the product and lookup tasks, the orthogonal readout and the birthday count."""

import itertools
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from tms_tutorial import MLP, evaluate, metrics, plotting, theory, train
from tms_tutorial.data import LookupTask, ProductTask


def test_mlp_is_the_formula_and_its_loss_the_weighted_error():
    model = MLP(3, 5, 2, n_instances=2, seed=1)
    with torch.no_grad():
        model.b1.normal_(generator=torch.Generator().manual_seed(0))
        model.b2.normal_(generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(2))
    h = torch.relu(torch.einsum("ibn,imn->ibm", x, model.W1) + model.b1[:, None])
    y = torch.einsum("ibm,iom->ibo", h, model.W2) + model.b2[:, None]
    assert torch.allclose(model(x), y, atol=1e-6)
    target = torch.randn(2, 7, 2, generator=torch.Generator().manual_seed(3))
    importance = torch.tensor([[1.0, 2.0], [0.5, 0.0]])
    expected = ((target - y) ** 2 * importance[:, None]).sum(dim=2).mean(dim=1)
    assert torch.allclose(model.loss(x, target, importance), expected, atol=1e-6)
    penalized = MLP(3, 5, 2, n_instances=2, seed=1, l1_coefficient=[0.0, 0.5])
    assert torch.allclose(penalized.loss(x, target, importance) - MLP(3, 5, 2, 2, seed=1).loss(x, target, importance),
                          torch.tensor([0.0, 0.5]) * penalized.hidden(x).abs().sum(dim=2).mean(dim=1), atol=1e-6)
    with pytest.raises(ValueError, match="n_outputs"):
        MLP(3, 5, 0)


def test_product_task_draws_standard_normals_and_their_product():
    x, target = ProductTask().sample(200_000, 1, rng=0)
    assert x.shape == (1, 200_000, 2) and target.shape == (1, 200_000, 1)
    assert torch.equal(target[..., 0], x[..., 0] * x[..., 1])
    assert abs(x.mean().item()) < 0.01 and abs(x.std().item() - 1) < 0.01
    assert abs(torch.corrcoef(x[0].T)[0, 1].item()) < 0.01
    assert torch.isfinite(x).all()
    again, _ = ProductTask().sample(200_000, 1, rng=0)
    assert torch.equal(x, again)


def test_lookup_task_draws_rows_of_its_table_uniformly():
    task = LookupTask(torch.eye(4), torch.arange(4.0))
    x, target = task.sample(40_000, 2, rng=1)
    assert x.shape == (2, 40_000, 4) and target.shape == (2, 40_000, 1)
    assert torch.equal(x.argmax(dim=2).float(), target[..., 0])  # every row is one item with its own target
    counts = torch.bincount(target.long().flatten(), minlength=4).float()
    assert ((counts / counts.sum() - 0.25).abs() < 0.01).all()
    with pytest.raises(ValueError, match="same"):
        LookupTask(torch.eye(4), torch.arange(3.0))


def test_a_small_mlp_learns_the_product_with_neurons_on_the_diagonals():
    model = MLP(2, 4, 1, n_instances=2, seed=0)
    train(model, ProductTask(), steps=2000, lr=1e-2, schedule="cosine", weight_decay=0.0, progress=False)
    loss = evaluate(model, ProductTask())
    best = int(loss.argmin())
    assert loss[best] < 0.15  # predicting 0 scores 1
    W1 = model.W1.detach()[best]
    diagonal = torch.tensor([[1.0, 1.0], [1.0, -1.0]]) / math.sqrt(2)
    cosines = ((W1 / W1.norm(dim=1, keepdim=True)) @ diagonal.T).abs().max(dim=1).values
    assert (cosines > 0.95).sum() >= 3


def test_orthogonal_readout_recovers_rotated_features_and_fails_for_too_many():
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g))
    x = torch.rand(500, 4, generator=g)
    h = torch.cat([x, torch.zeros(500, 2)], dim=1) @ Q.T
    found = metrics.orthogonal_readout(h, x)
    assert found["error"] < 1e-8 and found["R"].shape == (6, 4)
    assert torch.allclose(found["R"].T @ found["R"], torch.eye(4), atol=1e-5)
    x_many = torch.rand(500, 9, generator=g)
    assert metrics.orthogonal_readout(x_many @ torch.randn(9, 3, generator=g), x_many)["error"] > 0.3
    with pytest.raises(ValueError, match="same samples"):
        metrics.orthogonal_readout(torch.zeros(5, 3), torch.zeros(4, 3))


def test_expected_shared_neurons_is_the_birthday_count():
    for n, m in ((3, 4), (5, 3), (2, 6)):
        total = 0
        for choice in itertools.product(range(m), repeat=n):
            total += sum(choice.count(j) >= 2 for j in range(m))
        assert math.isclose(theory.expected_shared_neurons(n, m), total / m**n, rel_tol=1e-12)
    assert abs(theory.expected_shared_neurons(1, 5)) < 1e-12  # one feature shares nothing
    with pytest.raises(ValueError, match="m must be"):
        theory.expected_shared_neurons(3, 0)


def test_chapter_seven_figures_draw():
    fig = plotting.plot_heatmaps([torch.eye(3), torch.ones(3, 5)], ["a", "b"], xlabel="x", ylabel="y")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    plt.close(fig)
    with pytest.raises(ValueError, match="titles"):
        plotting.plot_heatmaps([torch.eye(3)], ["a", "b"])
    W1 = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    fig = plotting.plot_product_network(W1, -torch.ones(4), torch.tensor([[1.0, 1.0, -1.0, -1.0]]), torch.zeros(1))
    assert len(fig.axes[0].texts) == 4  # one arrow per neuron
    plt.close(fig)
    with pytest.raises(ValueError, match="W1 must be"):
        plotting.plot_product_network(torch.ones(4, 3), torch.ones(4), torch.ones(1, 4), torch.zeros(1))
    fig = plotting.plot_incidental([8, 16], {"a": ([5.0, 1.0], [0.5, 0.2])}, [2.1, 1.4])
    assert len(fig.axes) == 1
    plt.close(fig)
