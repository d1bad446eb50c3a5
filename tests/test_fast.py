"""fast: the door recognizes the models it serves and leaves every other one to autograd."""

import torch

from tms_tutorial import ComputationModel, NeuronModel, SetFeatures, SignedFeatures, SparseFeatures, ToyModel, fast


def test_small_toy_models_take_the_decomposed_loss():
    assert fast.route(ToyModel(2, 1), SparseFeatures(2, 0.1)) == "decomposed"
    assert fast.route(ToyModel(4, 2), SparseFeatures(4, 0.1)) == "decomposed"
    assert fast.route(ToyModel(5, 2), SparseFeatures(5, 0.1)) == "dense"


def test_sparse_instances_of_large_models_take_the_active_route():
    assert fast.route(ToyModel(400, 30, 2), SparseFeatures(400, torch.tensor([1.0, 0.01]))) == "active"
    assert fast.route(ToyModel(400, 30, 1), SparseFeatures(400, 1.0)) == "dense"


def test_feature_sets_are_drawn_whole():
    """Set features are not independent: no decomposition, no active-entry sampling."""
    assert fast.route(ToyModel(4, 2), SetFeatures(4, 0.05, correlated=[[0, 1]])) == "dense"
    assert fast.route(ToyModel(400, 30), SetFeatures(400, 0.01, correlated=[[0, 1]])) == "dense"


def test_neuron_models_on_independent_features_take_their_route():
    assert fast.route(NeuronModel(10, 5, 1000), SparseFeatures(10, 0.1)) == "neuron"
    assert fast.route(ComputationModel(100, 40, 7), SignedFeatures(100, 0.1)) == "computation"


def test_everything_else_goes_to_autograd():
    assert fast.route(NeuronModel(5, 2, l1_coefficient=0.01), SparseFeatures(5, 0.1)) is None
    assert fast.route(NeuronModel(4, 2), SetFeatures(4, 0.1, correlated=[[0, 1]])) is None
    assert fast.route(ComputationModel(5, 2, l1_coefficient=0.01), SignedFeatures(5, 0.1)) is None
    assert fast.route(ComputationModel(5, 2), SparseFeatures(5, 0.1)) is None  # not the absolute-value task
    assert fast.route(ToyModel(5, 2, l1_coefficient=0.1), SparseFeatures(5, 0.1)) is None
    assert fast.route(ToyModel(5, 2), SignedFeatures(5, 0.1)) is None  # the target is not the input

    class Subclass(ToyModel):  # might change the loss: not recognized
        pass

    assert fast.route(Subclass(5, 2), SparseFeatures(5, 0.1)) is None
    assert fast.step_for(ComputationModel(5, 2, l1_coefficient=0.01), SignedFeatures(5, 0.1), 1024, 0) is None
    assert fast.loss_for(ToyModel(5, 2), SparseFeatures(5, 0.1), 1024, 0) is None
