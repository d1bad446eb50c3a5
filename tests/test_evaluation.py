"""evaluation: expected losses by sampling (or the decomposition), and the best of several fits."""

import pytest
import torch

from tms_tutorial import NeuronModel, SparseFeatures, ToyModel, best_of, evaluate, sampled_loss


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


def test_decomposed_evaluation_agrees_with_sampling():
    """For n <= 4 evaluate takes the decomposition; it estimates the same expected loss as a big batch."""
    features = SparseFeatures(3, torch.tensor([0.5, 0.05]))
    model = ToyModel(3, 2, 2, seed=3)
    mean, error = sampled_loss(model, features, samples=2_000_000, seed=4)
    assert (torch.abs(evaluate(model, features) - mean) < 5 * error).all()


def test_sampled_loss_brackets_the_exact_loss_of_a_known_model():
    """The zero NeuronModel outputs 0, so its loss is E[sum_i I_i x_i^2] = sum_i I_i p / 3 exactly."""
    model = NeuronModel(4, 2, n_instances=2)
    with torch.no_grad():
        model.W.zero_()
    features = SparseFeatures(4, torch.tensor([1.0, 0.2]), torch.tensor([1.0, 0.5, 0.25, 0.125]))
    mean, error = sampled_loss(model, features, samples=400_000, seed=0, chunks=40)
    exact = 1.875 * torch.tensor([1.0, 0.2]) / 3
    assert (error > 0).all() and (error < 0.01 * exact).all()
    assert (torch.abs(mean - exact) < 5 * error).all()
    with pytest.raises(ValueError, match="multiple of chunks"):
        sampled_loss(model, features, samples=1000, chunks=3)


def test_evaluate_refuses_features_of_another_size():
    with pytest.raises(ValueError, match="n_features"):
        evaluate(ToyModel(5, 2), SparseFeatures(4, 0.5))


def test_best_of_picks_the_lowest_loss_in_each_group():
    loss = torch.tensor([0.3, 0.1, 0.2, 5.0, 4.0, 6.0])
    assert best_of(loss, 3).tolist() == [1, 4]
    assert best_of(loss, 1).tolist() == list(range(6))
    with pytest.raises(ValueError, match="restarts"):
        best_of(loss, 4)


def test_best_of_never_picks_a_diverged_fit():
    loss = torch.tensor([float("nan"), 0.3, 0.2, 0.1, float("nan"), 0.5])
    assert best_of(loss, 3).tolist() == [2, 3]
    with pytest.raises(ValueError, match="finite"):
        best_of(torch.tensor([float("nan"), float("nan"), 0.1, 0.2]), 2)


@pytest.mark.parametrize("kwargs, name", [(dict(seed=-3), "seed"), (dict(batch_size=0), "batch_size")])
def test_evaluate_refuses_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        evaluate(ToyModel(5, 2), SparseFeatures(5, 0.5), **kwargs)
