"""evaluation: expected losses by sampling (or the decomposition), and the best of several fits."""

import pytest
import torch

from tms_tutorial import ComputationModel, NeuronModel, SparseFeatures, ToyModel, best_of, evaluate, sampled_loss
from tms_tutorial.evaluation import single_feature_response


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


def test_common_samples_give_equal_fits_equal_losses_and_keep_each_instances_density():
    features = SparseFeatures(10, torch.tensor([0.1, 0.1, 0.5]), 0.75 ** torch.arange(10.0))
    model = NeuronModel(10, 5, 3, seed=0)
    with torch.no_grad():
        model.W[1] = model.W[0]
        model.b[1] = model.b[0]
    shared = evaluate(model, features, batch_size=20_000, common_samples=True)
    assert shared[0] == shared[1]  # the same weights on the same draws
    apart = evaluate(model, features, batch_size=20_000)
    assert apart[0] != apart[1]  # different draws per instance
    assert torch.allclose(shared, apart, rtol=0.05)  # and the same expected loss
    with pytest.raises(ValueError, match="common_samples"):
        evaluate(model, features, common_samples=1)


def test_single_feature_response_reads_both_halves_of_the_absolute_value():
    model = ComputationModel(3, 6, n_instances=1)
    with torch.no_grad():
        model.W1.zero_()
        model.W2.zero_()
        model.b.zero_()
        for i in range(3):  # ReLU(x_i) + ReLU(-x_i), except feature 2's negative half
            model.W1[0, 2 * i, i] = 1.0
            model.W2[0, i, 2 * i] = 1.0
            if i < 2:
                model.W1[0, 2 * i + 1, i] = -1.0
                model.W2[0, i, 2 * i + 1] = 1.0
        model.b[0, 1] = 0.5  # a constant added to output 1 is not a response
    response = single_feature_response(model, value=0.5)
    assert response.shape == (1, 3, 2)
    assert torch.allclose(response[0], torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]]))
    with torch.no_grad():
        model.W1[0, 2:4, 1] = 0.0  # feature 1 dropped: its output is the bias 0.5, whatever x_1 is
    assert torch.allclose(single_feature_response(model, value=0.5)[0, 1], torch.zeros(2))
    with pytest.raises(ValueError, match="value"):
        single_feature_response(model, value=1.5)
