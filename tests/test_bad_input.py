"""Bad input across the public API: a clear ValueError or TypeError that names the argument, never a
silent wrong answer; and unusual valid input (numpy scalars, 0-d tensors, float64, numpy arrays) accepted
with the right answer.

Each case is one call. REFUSED cases must raise ValueError or TypeError whose message contains the
argument's name; ACCEPTED cases must return, and where a reference is given, the same numbers as the plain
call.
"""

import math

import numpy as np
import pytest
import torch

import tms_tutorial as tt
from tms_tutorial import adversarial, evaluation, exercises, metrics, plotting, stored, sweeps, theory, widgets
from tms_tutorial.data import HiddenActivations, LookupTask, ProductTask, SetFeatures, SignedFeatures, SparseFeatures

NAN, INF = float("nan"), float("inf")
W = torch.randn(2, 3, 6, generator=torch.Generator().manual_seed(0))  # (I, m, n)
W2 = torch.randn(2, 2, 5, generator=torch.Generator().manual_seed(1))  # m = 2, for the n = 5 geometry
TOY = tt.ToyModel(6, 3, 2)
FEATURES = SparseFeatures(6, 0.1)
SAE = tt.SparseAutoencoder(3, 8, 2)
ACTIVATIONS = HiddenActivations(FEATURES, W[0])


def nan_like(t):
    out = torch.as_tensor(t, dtype=torch.float32).clone()
    out.view(-1)[0] = NAN
    return out


# (id, the call, the argument the message must name)
REFUSED = [
    # data
    ("SparseFeatures n_features 0", lambda: SparseFeatures(0), "n_features"),
    ("SparseFeatures n_features 2.5", lambda: SparseFeatures(2.5), "n_features"),
    ("SparseFeatures n_features True", lambda: SparseFeatures(True), "n_features"),
    ("SparseFeatures p 1.5", lambda: SparseFeatures(4, 1.5), "feature_probability"),
    ("SparseFeatures p -0.1", lambda: SparseFeatures(4, -0.1), "feature_probability"),
    ("SparseFeatures p nan", lambda: SparseFeatures(4, NAN), "feature_probability"),
    ("SparseFeatures p string", lambda: SparseFeatures(4, "0.5"), "feature_probability"),
    ("SparseFeatures p empty", lambda: SparseFeatures(4, torch.tensor([])), "feature_probability"),
    ("SparseFeatures p wrong shape", lambda: SparseFeatures(4, torch.full((2, 3), 0.5)), "feature_probability"),
    ("SparseFeatures importance negative", lambda: SparseFeatures(4, 0.5, -1.0), "importance"),
    ("SparseFeatures importance inf", lambda: SparseFeatures(4, 0.5, INF), "importance"),
    ("SparseFeatures importance shape", lambda: SparseFeatures(4, 0.5, torch.ones(3)), "importance"),
    ("SparseFeatures set p 2", lambda: setattr(SparseFeatures(4, 0.5), "feature_probability", 2.0),
     "feature_probability"),
    ("SparseFeatures set importance -1", lambda: setattr(SparseFeatures(4, 0.5), "importance", -1.0), "importance"),
    ("sample batch 0", lambda: FEATURES.sample(0, 2), "batch_size"),
    ("sample n_instances -1", lambda: FEATURES.sample(4, -1), "n_instances"),
    ("sample instances mismatch", lambda: SparseFeatures(6, torch.full((3,), 0.1)).sample(4, 2), "feature_probability"),
    ("sample seed negative", lambda: FEATURES.sample(4, 2, rng=-1), "seed"),
    ("sample seed float", lambda: FEATURES.sample(4, 2, rng=1.5), "seed"),
    ("SetFeatures set of one", lambda: SetFeatures(4, 0.5, correlated=[[0]]), "correlated"),
    ("SetFeatures index out of range", lambda: SetFeatures(4, 0.5, correlated=[[0, 4]]), "correlated"),
    ("SetFeatures overlapping", lambda: SetFeatures(4, 0.5, correlated=[[0, 1]], anticorrelated=[[1, 2]]),
     "anticorrelated"),
    ("SetFeatures string set", lambda: SetFeatures(4, 0.5, correlated="01"), "correlated"),
    ("SetFeatures unequal p", lambda: SetFeatures(2, torch.tensor([[0.1, 0.2]]), correlated=[[0, 1]]),
     "feature_probability"),
    ("SetFeatures set p unequal later",
     lambda: setattr(SetFeatures(2, 0.1, correlated=[[0, 1]]), "feature_probability", torch.tensor([[0.1, 0.2]])),
     "feature_probability"),
    ("SignedFeatures p 1.5", lambda: SignedFeatures(4, 1.5), "feature_probability"),
    ("HiddenActivations W shape", lambda: HiddenActivations(FEATURES, torch.ones(3, 5)), "W"),
    ("HiddenActivations W nan", lambda: HiddenActivations(FEATURES, nan_like(W[0])), "W"),
    ("HiddenActivations features", lambda: HiddenActivations("features", W[0]), "features"),
    ("LookupTask mismatched rows", lambda: LookupTask(torch.ones(3, 2), torch.ones(4, 1)), "targets"),
    ("LookupTask nan", lambda: LookupTask(nan_like(torch.ones(3, 2)), torch.ones(3, 1)), "inputs"),
    # models
    ("ToyModel n_hidden 0", lambda: tt.ToyModel(5, 0), "n_hidden"),
    ("ToyModel n_instances 1.0", lambda: tt.ToyModel(5, 2, 1.0), "n_instances"),
    ("ToyModel activation", lambda: tt.ToyModel(5, 2, activation="tanh"), "activation"),
    ("ToyModel seed", lambda: tt.ToyModel(5, 2, seed=-3), "seed"),
    ("ToyModel l1 negative", lambda: tt.ToyModel(5, 2, l1_coefficient=-0.1), "l1_coefficient"),
    ("ToyModel l1 nan", lambda: tt.ToyModel(5, 2, l1_coefficient=NAN), "l1_coefficient"),
    ("ToyModel from_weights nan", lambda: tt.ToyModel.from_weights(nan_like(W)), "W"),
    ("ToyModel from_weights b shape", lambda: tt.ToyModel.from_weights(W, torch.zeros(2, 5)), "b"),
    ("ToyModel forward wrong n", lambda: TOY(torch.rand(2, 4, 5)), "x"),
    ("ToyModel forward wrong instances", lambda: TOY(torch.rand(3, 4, 6)), "x"),
    ("AdversarialToyModel attack negative", lambda: tt.AdversarialToyModel(5, 2, attack=-0.1), "attack"),
    ("NeuronModel n_features 0", lambda: tt.NeuronModel(0, 2), "n_features"),
    ("ComputationModel init", lambda: tt.ComputationModel(5, 2, init="zeros"), "init"),
    ("ComputationModel init_scale", lambda: tt.ComputationModel(5, 2, init_scale=0.0), "init_scale"),
    ("SparseAutoencoder kind", lambda: tt.SparseAutoencoder(3, 8, kind="gated"), "kind"),
    ("SparseAutoencoder k too large", lambda: tt.SparseAutoencoder(3, 8, kind="topk", k=9), "k"),
    ("SparseAutoencoder threshold", lambda: tt.SparseAutoencoder(3, 8, kind="jumprelu", threshold=-1.0),
     "threshold"),
    ("MLP n_outputs 0", lambda: tt.MLP(2, 4, n_outputs=0), "n_outputs"),
    ("ResampleDuplicates every 0", lambda: tt.ResampleDuplicates(every=0), "every"),
    ("ResampleDuplicates threshold 2", lambda: tt.ResampleDuplicates(threshold=2.0), "threshold"),
    # train
    ("train steps 0", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=0, progress=False), "steps"),
    ("train lr nan", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=5, lr=NAN, progress=False), "lr"),
    ("train schedule", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=5, schedule="step", progress=False),
     "schedule"),
    ("train features mismatch", lambda: tt.train(tt.ToyModel(6, 3, 2), SparseFeatures(5), steps=5, progress=False),
     "n_features"),
    ("train features not a distribution", lambda: tt.train(tt.ToyModel(6, 3, 2), W, steps=5, progress=False),
     "features"),
    ("train snapshots string", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=5, snapshots="10",
                                                progress=False), "snapshots"),
    ("train snapshots float", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=5, snapshots=[1.7],
                                               progress=False), "snapshots"),
    ("train use_fast_routes string", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=5,
                                                      use_fast_routes="False", progress=False), "use_fast_routes"),
    ("train callback", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=5, callback=3, progress=False),
     "callback"),
    ("train threads 0", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=5, threads=0, progress=False),
     "threads"),
    ("train SAE on features of the wrong size", lambda: tt.train(tt.SparseAutoencoder(4, 8, 2), ACTIVATIONS,
                                                                 steps=5, progress=False), "n_features"),
    # evaluation
    ("evaluate mismatch", lambda: tt.evaluate(TOY, SparseFeatures(5)), "n_features"),
    ("evaluate batch 0", lambda: tt.evaluate(TOY, FEATURES, batch_size=0), "batch_size"),
    ("best_of restarts 0", lambda: tt.best_of(torch.rand(4), 0), "restarts"),
    ("best_of not divisible", lambda: tt.best_of(torch.rand(5), 2), "restarts"),
    ("best_of all nan", lambda: tt.best_of(torch.tensor([NAN, NAN]), 2), "loss"),
    ("sampled_loss samples 0", lambda: tt.sampled_loss(TOY, FEATURES, samples=0), "samples"),
    ("single_feature_response value 2", lambda: evaluation.single_feature_response(tt.ComputationModel(4, 3), 2.0),
     "value"),
    ("sae_statistics samples 0", lambda: evaluation.sae_statistics(SAE, ACTIVATIONS, samples=0), "samples"),
    # metrics
    ("feature_norms 2-d", lambda: metrics.feature_norms(W[0]), "W"),
    ("feature_norms nan", lambda: metrics.feature_norms(nan_like(W)), "W"),
    ("feature_norms empty", lambda: metrics.feature_norms(torch.zeros(1, 3, 0)), "W"),
    ("feature_norms string", lambda: metrics.feature_norms("W"), "W"),
    ("feature_dimensionality nan", lambda: metrics.feature_dimensionality(nan_like(W)), "W"),
    ("dimensions_per_feature inf", lambda: metrics.dimensions_per_feature(W * INF), "W"),
    ("superposition min_norm negative", lambda: metrics.superposition(W, min_norm=-1), "min_norm"),
    ("superposition min_norm string", lambda: metrics.superposition(W, min_norm="a"), "min_norm"),
    ("effective_features feature_mean nan", lambda: metrics.effective_features(W, feature_mean=nan_like(torch.ones(6))),
     "feature_mean"),
    ("effective_features feature_mean shape", lambda: metrics.effective_features(W, feature_mean=torch.ones(5)),
     "feature_mean"),
    ("count_superposed threshold nan", lambda: metrics.count_superposed(W, threshold=NAN), "threshold"),
    ("pair_cosines pairs out of range", lambda: metrics.pair_cosines(W, [(0, 6)]), "pairs"),
    ("neighbour_angle feature 6", lambda: metrics.neighbour_angle(W, feature=6), "feature"),
    ("neighbour_angle feature 1.0", lambda: metrics.neighbour_angle(W, feature=1.0), "feature"),
    ("feature_geometry tolerance negative", lambda: metrics.feature_geometry(W, tolerance=-0.1), "tolerance"),
    ("canonical_orientation m 3", lambda: metrics.canonical_orientation(W), "W"),
    ("canonical_orientation anchor", lambda: metrics.canonical_orientation(W2, anchor=5), "anchor"),
    ("plateaus nan", lambda: metrics.plateaus([1.0, NAN, 1.0]), "values"),
    ("plateaus min_length 0", lambda: metrics.plateaus([1.0, 1.0], min_length=0), "min_length"),
    ("plateaus flat nan", lambda: metrics.plateaus([1.0, 1.0], flat=NAN), "flat"),
    ("dimensionality_jumps shapes", lambda: metrics.dimensionality_jumps(np.arange(5), np.zeros((4, 3))), "D"),
    ("loss_drops_at_moves shapes", lambda: metrics.loss_drops_at_moves(np.arange(50), np.zeros(40),
                                                                      np.zeros((50, 3))), "loss"),
    ("neuron_features threshold 2", lambda: metrics.neuron_features(W, threshold=2.0), "threshold"),
    ("asymmetric_superposition shapes", lambda: metrics.asymmetric_superposition(torch.ones(1, 4, 3),
                                                                                torch.ones(1, 2, 4)), "W2"),
    ("decoder_cosines directions nan", lambda: metrics.decoder_cosines(SAE.W_dec.detach(), nan_like(W[0])),
     "directions"),
    ("mmcs directions wrong d_in", lambda: metrics.mmcs(SAE.W_dec.detach(), torch.ones(4, 6)), "directions"),
    ("mmcs W_dec nan", lambda: metrics.mmcs(nan_like(SAE.W_dec.detach()), W[0]), "W_dec"),
    ("feature_recovery recovered_at 1", lambda: metrics.feature_recovery(SAE.W_dec.detach(), W[0], 1.0),
     "recovered_at"),
    ("feature_recovery directions nan", lambda: metrics.feature_recovery(SAE.W_dec.detach(), nan_like(W[0])),
     "directions"),
    ("orthogonal_readout shapes", lambda: metrics.orthogonal_readout(torch.ones(5, 3), torch.ones(4, 3)), "x"),
    ("orthogonal_readout nan", lambda: metrics.orthogonal_readout(nan_like(torch.ones(5, 3)), torch.ones(5, 3)),
     "h"),
    # theory
    ("feature_variance p 1.5", lambda: theory.feature_variance(1.5), "p"),
    ("dropped_loss importance negative", lambda: theory.dropped_loss(0.5, -1.0), "importance"),
    ("antipodal_loss p nan", lambda: theory.antipodal_loss(NAN), "p"),
    ("pair_loss p 1.5", lambda: theory.pair_loss(1.0, 1.0, 0.0, 0.0, 1.5), "p"),
    ("pair_loss a nan", lambda: theory.pair_loss(NAN, 1.0, 0.0, 0.0, 0.5), "a"),
    ("relu_moments nan", lambda: theory.relu_moments(torch.tensor([NAN]), torch.tensor([0.0])), "a"),
    ("relu_moments shapes", lambda: theory.relu_moments(torch.ones(3), torch.ones(2)), "c"),
    ("single_feature_loss importance negative",
     lambda: theory.single_feature_loss(W, torch.zeros(2, 6), -torch.ones(2, 6), "relu"), "importance"),
    ("single_feature_loss b shape", lambda: theory.single_feature_loss(W, torch.zeros(2, 5), torch.ones(2, 6), "relu"),
     "b"),
    ("single_feature_loss activation", lambda: theory.single_feature_loss(W, torch.zeros(2, 6), torch.ones(2, 6),
                                                                          "gelu"), "activation"),
    ("loss_at_most_one_active p 1.5", lambda: theory.loss_at_most_one_active(
        W, torch.zeros(2, 6), torch.full((2, 6), 1.5), torch.ones(2, 6), "relu"), "p"),
    ("empty_loss importance nan", lambda: theory.empty_loss(torch.zeros(2, 6), nan_like(torch.ones(2, 6)), "relu"),
     "importance"),
    ("linear_loss p 2", lambda: theory.linear_loss(W, torch.zeros(2, 6), 2.0, torch.ones(2, 6)), "p"),
    ("n2_candidate_losses p -1", lambda: theory.n2_candidate_losses(-1.0, 1.0), "p"),
    ("n2_candidate_losses importance nan", lambda: theory.n2_candidate_losses(0.5, NAN), "relative_importance"),
    ("n3_candidate_losses p 2", lambda: theory.n3_candidate_losses(2.0, 1.0), "p"),
    ("n2_boundaries negative", lambda: theory.n2_boundaries(-1.0), "relative_importance"),
    ("optimize_pair steps 0", lambda: theory.optimize_pair(0.5, steps=0), "steps"),
    ("classify_n2 nan", lambda: theory.classify_n2(nan_like(torch.ones(3, 1, 2)), torch.zeros(3, 2)), "W"),
    ("classify_n2 shape", lambda: theory.classify_n2(torch.ones(3, 2, 2), torch.zeros(3, 2)), "W"),
    ("classify_n3 nan b", lambda: theory.classify_n3(torch.ones(3, 2, 3), nan_like(torch.zeros(3, 3))), "b"),
    ("classify_n5 m 3", lambda: theory.classify_n5(torch.ones(3, 3, 5)), "W"),
    ("classify_n5 nan", lambda: theory.classify_n5(nan_like(W2)), "W"),
    ("compressed_sensing_bound p 0", lambda: theory.compressed_sensing_bound(0.0), "p"),
    ("compressed_sensing_bound constant 0", lambda: theory.compressed_sensing_bound(0.5, constant=0), "constant"),
    ("expected_shared_neurons m 0", lambda: theory.expected_shared_neurons(5, 0), "m"),
    ("expected_shared_neurons n 2.0", lambda: theory.expected_shared_neurons(2.0, 5), "n"),
    # adversarial
    ("attack_directions nan", lambda: adversarial.attack_directions(nan_like(W)), "W"),
    ("vulnerability relative_size negative", lambda: adversarial.vulnerability(TOY, FEATURES, relative_size=-0.1),
     "relative_size"),
    ("vulnerability attack", lambda: adversarial.vulnerability(TOY, FEATURES, attack="fgsm"), "attack"),
    ("vulnerability mismatch", lambda: adversarial.vulnerability(TOY, SparseFeatures(5)), "n_features"),
    ("vulnerability choose", lambda: adversarial.vulnerability(TOY, FEATURES, choose="best"), "choose"),
    ("analytic_attack epsilon negative", lambda: adversarial.analytic_attack(
        TOY, *FEATURES.sample(8, 2), FEATURES.importance_matrix(2), -0.1), "epsilon"),
    ("vulnerability NeuronModel analytic", lambda: adversarial.vulnerability(tt.NeuronModel(6, 3, 2), FEATURES),
     "attack"),
    ("vulnerability an SAE", lambda: adversarial.vulnerability(SAE, FEATURES), "model"),
    ("sample_losses target shape", lambda: adversarial.sample_losses(TOY, torch.rand(2, 8, 6), torch.rand(2, 8, 5),
                                                                     torch.ones(2, 6)), "target"),
    ("gradient_attack steps 0", lambda: adversarial.gradient_attack(
        TOY, *FEATURES.sample(8, 2), FEATURES.importance_matrix(2), 0.1, steps=0), "steps"),
    # chapter 6's tools given another chapter's model or data
    ("sae_statistics a ToyModel", lambda: evaluation.sae_statistics(TOY, ACTIVATIONS), "sae"),
    ("matched_activations a ToyModel", lambda: evaluation.matched_activations(TOY, ACTIVATIONS, torch.zeros(2, 6)),
     "sae"),
    ("sae_statistics latents without known features", lambda: evaluation.sae_statistics(
        SAE, FEATURES, latents=torch.zeros(2, 6)), "latents"),
    ("matched_activations latents out of range", lambda: evaluation.matched_activations(
        SAE, ACTIVATIONS, torch.full((2, 6), 9)), "latents"),
    ("SAE decode shape", lambda: SAE.decode(torch.rand(2, 4, 7)), "f"),
    ("SAE encode shape", lambda: SAE.encode(torch.rand(2, 4, 5)), "x"),
    ("SAE topk k 0", lambda: tt.SparseAutoencoder(3, 8, kind="topk", k=0), "k"),
    ("ToyModel l1 per instance length", lambda: tt.ToyModel(3, 2, 2, l1_coefficient=torch.ones(3)),
     "l1_coefficient"),
    ("merge_duplicates threshold 2", lambda: tt.ComputationModel(4, 3).merge_duplicates(2.0), "threshold"),
    ("overlap_groups nan", lambda: metrics.overlap_groups(torch.full((3, 6), NAN)), "Wk"),
    ("neuron_regime 3-d", lambda: metrics.neuron_regime(W), "Wk"),
    ("pair_filters share 2", lambda: theory.pair_filters(1.0, 1.0, 0.0, 0.0, share=2.0), "share"),
    ("filtered_share nan", lambda: theory.filtered_share(NAN, 0.0), "overlap"),
    ("best_pair_loss p 1.5", lambda: theory.best_pair_loss(1.5), "p"),
    ("chunk_size 0", lambda: tt.data.chunk_size(0, 5, 5), "n_instances"),
    ("UniformStream seed", lambda: tt.data.UniformStream(-1), "seed"),
    ("ProductTask batch 0", lambda: ProductTask().sample(0, 1), "batch_size"),
    ("loss_by_active_features mismatch", lambda: tt.loss_by_active_features(TOY, SparseFeatures(5)), "n_features"),
    ("evaluate common_samples string", lambda: tt.evaluate(TOY, FEATURES, common_samples="yes"), "common_samples"),
    ("loss_drops_at_moves window 0", lambda: metrics.loss_drops_at_moves(np.arange(100) * 20, np.ones(100),
                                                                         np.ones((100, 2)), window=0), "window"),
    ("pair_cosines pairs string", lambda: metrics.pair_cosines(W, "01"), "pairs"),
    ("pair_cosines pairs float", lambda: metrics.pair_cosines(W, [(0.5, 1)]), "pairs"),
    ("orthogonal_readout empty", lambda: metrics.orthogonal_readout(torch.ones(0, 3), torch.ones(0, 3)), "h"),
    ("learned_phases shapes", lambda: sweeps.learned_phases(["a"] * 4, torch.rand(3), (2, 1), ["a"]), "losses"),
    ("feature_set_fits fits 0", lambda: sweeps.feature_set_fits(4, 2, [0.1], fits=0), "fits"),
    # plotting and widgets
    ("plot_feature_arrows 2-d", lambda: plotting.plot_feature_arrows(W2[0]), "W"),
    ("plot_feature_arrows nan", lambda: plotting.plot_feature_arrows(nan_like(W2)), "W"),
    ("plot_feature_arrows m 3", lambda: plotting.plot_feature_arrows(W), "W"),
    ("plot_feature_arrows titles", lambda: plotting.plot_feature_arrows(W2, titles=["a"]), "titles"),
    ("plot_feature_graphs threshold", lambda: plotting.plot_feature_graphs(W, threshold=-1), "threshold"),
    ("plot_dimensionality mismatch", lambda: plotting.plot_dimensionality(torch.ones(3), W), "inverse_density"),
    ("plot_feature_dimensionalities shape", lambda: plotting.plot_feature_dimensionalities(
        [1, 2], [np.ones((3, 4))], ["a"]), "dims"),
    ("plot_gram 1-d", lambda: plotting.plot_gram(torch.ones(3)), "W"),
    ("plot_geometry_3d m 2", lambda: plotting.plot_geometry_3d(W2), "W"),
    ("plot_neuron_weights nan", lambda: plotting.plot_neuron_weights(torch.full((1, 3, 5), NAN)), "W"),
    ("plot_vulnerability mismatch", lambda: plotting.plot_vulnerability(torch.ones(3), {"a": torch.ones(2)}),
     "vulnerabilities"),
    ("plot_training_dynamics shapes", lambda: plotting.plot_training_dynamics(
        np.arange(5), np.ones((4, 3)), np.arange(5), np.ones(5)), "D"),
    ("plot_heatmaps titles", lambda: plotting.plot_heatmaps([np.ones((2, 2))], ["a", "b"]), "titles"),
    ("figure_to_png not a figure", lambda: widgets.figure_to_png(3), "fig"),
    ("explorer render", lambda: widgets.explorer(3, range(3), "x"), "render"),
    ("explorer start", lambda: widgets.explorer(lambda j: None, range(3), "x", start=5), "start"),
    ("explorer empty", lambda: widgets.explorer(lambda j: None, [], "x"), "values"),
    ("grid_explorer no axes", lambda: widgets.grid_explorer(lambda *a: None, {}), "axes"),
    # sweeps and stored
    ("phase_grid_features fits 0", lambda: sweeps.phase_grid_features(2, [0.1], [1.0], 0), "fits"),
    ("phase_grid_features density 2", lambda: sweeps.phase_grid_features(2, [2.0], [1.0], 1), "densities"),
    ("computation_sweep density 2", lambda: sweeps.computation_sweep([2.0], n_features=4, n_hidden=3, seeds=1,
                                                                     steps=2), "densities"),
    ("computation_sweep density nan", lambda: sweeps.computation_sweep([NAN], n_features=4, n_hidden=3, seeds=1,
                                                                       steps=2), "densities"),
    ("computation_sweep importance_decay 2", lambda: sweeps.computation_sweep(
        [0.5], n_features=4, n_hidden=3, importance_decay=2.0, seeds=1, steps=2), "importance_decay"),
    ("computation_sweep resample_every 0", lambda: sweeps.computation_sweep(
        [0.5], n_features=4, n_hidden=3, resample_every=0, seeds=1, steps=2), "resample_every"),
    ("feature_set_fits density 2", lambda: sweeps.feature_set_fits(4, 2, [2.0], fits=1, steps=2), "densities"),
    ("feature_set_fits eval_batch_size 0", lambda: sweeps.feature_set_fits(4, 2, [0.1], fits=1, steps=2,
                                                                           eval_batch_size=0), "eval_batch_size"),
    ("learned_phases nan losses", lambda: sweeps.learned_phases(["a"] * 4, torch.tensor([NAN] * 4), (2, 1), ["a"]),
     "losses"),
    ("learned_phases grid_shape", lambda: sweeps.learned_phases(["a"] * 4, torch.rand(4), (0, 1), ["a"]),
     "grid_shape"),
    ("summarize_computation_sweep not a run", lambda: sweeps.summarize_computation_sweep({}, [0.5], {}), "run"),
    ("merge_computation_sweeps not summaries", lambda: sweeps.merge_computation_sweeps([{}]), "summaries"),
    ("stored unknown", lambda: stored.load("no_such_run"), "name"),
    ("stored path", lambda: stored.load("../../etc/passwd"), "name"),
]


@pytest.mark.parametrize("call, argument", [(c, a) for _, c, a in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_bad_input_is_refused_naming_the_argument(call, argument):
    with pytest.raises((ValueError, TypeError)) as caught:
        call()
    assert argument in str(caught.value), f"the message does not name {argument!r}: {caught.value}"


def same(a, b):
    a = a if isinstance(a, (tuple, list, dict)) else [a]
    b = b if isinstance(b, (tuple, list, dict)) else [b]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return len(a) == len(b) and all(np.allclose(np.asarray(torch.as_tensor(x).detach().double()),
                                                np.asarray(torch.as_tensor(y).detach().double()), equal_nan=True,
                                                rtol=1e-5, atol=1e-6) for x, y in zip(a, b))


# (id, the unusual call, the plain call it must agree with)
ACCEPTED = [
    ("SparseFeatures numpy int", lambda: SparseFeatures(np.int64(4), np.float32(0.5)).sample(3, 1)[0],
     lambda: SparseFeatures(4, 0.5).sample(3, 1)[0]),
    ("SparseFeatures 0-d tensors", lambda: SparseFeatures(torch.tensor(4), torch.tensor(0.5)).sample(3, 1)[0],
     lambda: SparseFeatures(4, 0.5).sample(3, 1)[0]),
    ("SparseFeatures numpy array p", lambda: SparseFeatures(4, np.full(2, 0.5)).sample(3, 2)[0],
     lambda: SparseFeatures(4, [0.5, 0.5]).sample(3, 2)[0]),
    ("sample numpy seed", lambda: FEATURES.sample(3, 2, rng=np.int64(5))[0], lambda: FEATURES.sample(3, 2, rng=5)[0]),
    ("ToyModel numpy sizes", lambda: tt.ToyModel(np.int64(6), np.int32(3), np.int64(2), seed=np.int64(1)).W,
     lambda: tt.ToyModel(6, 3, 2, seed=1).W),
    ("ToyModel from_weights float64", lambda: tt.ToyModel.from_weights(W.double()).W, lambda: W),
    ("ToyModel forward float64", lambda: TOY(torch.ones(2, 3, 6, dtype=torch.float64)),
     lambda: TOY(torch.ones(2, 3, 6))),
    ("feature_norms float64", lambda: metrics.feature_norms(W.double()), lambda: metrics.feature_norms(W)),
    ("feature_norms numpy", lambda: metrics.feature_norms(W.numpy()), lambda: metrics.feature_norms(W)),
    ("feature_dimensionality float64", lambda: metrics.feature_dimensionality(W.double()),
     lambda: metrics.feature_dimensionality(W)),
    ("neighbour_angle numpy feature", lambda: metrics.neighbour_angle(W, feature=np.int64(2)),
     lambda: metrics.neighbour_angle(W, feature=2)),
    ("neighbour_angle 0-d feature", lambda: metrics.neighbour_angle(W, feature=torch.tensor(2)),
     lambda: metrics.neighbour_angle(W, feature=2)),
    ("superposition numpy min_norm", lambda: metrics.superposition(W, min_norm=np.float64(0.2)),
     lambda: metrics.superposition(W, min_norm=0.2)),
    ("plateaus numpy min_length", lambda: metrics.plateaus([1.0, 1.0, 2.0, 2.0], min_length=np.int64(2)),
     lambda: metrics.plateaus([1.0, 1.0, 2.0, 2.0], min_length=2)),
    ("mmcs float64", lambda: metrics.mmcs(SAE.W_dec.detach().double(), W[0].double()),
     lambda: metrics.mmcs(SAE.W_dec.detach(), W[0])),
    ("dropped_loss numpy", lambda: theory.dropped_loss(np.float32(0.5), np.float64(2.0)),
     lambda: theory.dropped_loss(0.5, 2.0)),
    ("dropped_loss 0-d", lambda: theory.dropped_loss(torch.tensor(0.5)), lambda: theory.dropped_loss(0.5)),
    ("expected_shared_neurons numpy", lambda: theory.expected_shared_neurons(np.int64(10), np.int32(4)),
     lambda: theory.expected_shared_neurons(10, 4)),
    ("expected_shared_neurons 0-d", lambda: theory.expected_shared_neurons(torch.tensor(10), torch.tensor(4)),
     lambda: theory.expected_shared_neurons(10, 4)),
    ("compressed_sensing_bound numpy constant", lambda: theory.compressed_sensing_bound(0.1, np.float64(2.0)),
     lambda: theory.compressed_sensing_bound(0.1, 2.0)),
    ("single_feature_response numpy value",
     lambda: evaluation.single_feature_response(tt.ComputationModel(4, 3), np.float64(0.5)),
     lambda: evaluation.single_feature_response(tt.ComputationModel(4, 3), 0.5)),
    ("train numpy steps", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=np.int64(20), progress=False).loss,
     lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=20, progress=False).loss),
    ("train numpy snapshots", lambda: tt.train(tt.ToyModel(6, 3, 2), FEATURES, steps=20, snapshots=np.array([0, 20]),
                                               progress=False).snapshot_steps, lambda: np.array([0, 20])),
    ("evaluate numpy batch", lambda: tt.evaluate(TOY, FEATURES, batch_size=np.int64(1000)),
     lambda: tt.evaluate(TOY, FEATURES, batch_size=1000)),
    ("best_of numpy restarts", lambda: tt.best_of(torch.tensor([3.0, 1.0, 2.0, 4.0]), np.int64(2)),
     lambda: torch.tensor([1, 2])),
]


@pytest.mark.parametrize("call, reference", [(c, r) for _, c, r in ACCEPTED], ids=[i for i, _, _ in ACCEPTED])
def test_unusual_valid_input_gives_the_right_answer(call, reference):
    assert same(call(), reference())


def test_a_changed_feature_probability_is_what_sampling_uses():
    features = SparseFeatures(50, 0.9)
    features.sample(2000, 1)
    features.feature_probability = 0.1
    assert abs((features.sample(2000, 1)[0] > 0).float().mean().item() - 0.1) < 0.01
    features.feature_probability[...] = 0.5  # in place
    assert abs((features.sample(2000, 1)[0] > 0).float().mean().item() - 0.5) < 0.02
    signed = SignedFeatures(50, 0.9)
    signed.sample(10, 1)
    signed.feature_probability = 0.1
    assert abs((signed.sample(2000, 1)[0] != 0).float().mean().item() - 0.1) < 0.01


def test_training_that_blows_up_after_the_last_record_is_stopped():
    for kwargs in (dict(steps=5, log_every=10, lr=1e6), dict(steps=1, lr=1e10)):
        with pytest.raises(tt.NonFiniteLossError, match="after the last update"):
            tt.train(tt.ToyModel(5, 2, 3), SparseFeatures(5, 0.1), progress=False, **kwargs)


def test_expected_shared_neurons_holds_its_precision_for_large_m():
    from fractions import Fraction

    for n, m in ((10, 10**8), (3, 10**12), (50, 1000), (512, 64), (1000, 10**6)):
        q = Fraction(1, m)
        exact = float(m * (1 - (1 - q) ** n - n * q * (1 - q) ** (n - 1)))
        assert math.isclose(theory.expected_shared_neurons(n, m), exact, rel_tol=1e-9)


def test_sae_statistics_masks_each_instance_by_its_own_samples():
    class PerInstance:  # instance 1 reads zeros: only instance 0's samples count for instance 0, and none for 1
        n_features = 3

        def sample(self, batch_size, n_instances, rng=None, device=None):
            h = torch.ones(n_instances, batch_size, 3)
            h[1] = 0
            return h, h

        def importance_matrix(self, n_instances, device=None):
            return torch.ones(n_instances, 3)

    sae = tt.SparseAutoencoder(3, 4, 2)
    stats = evaluation.sae_statistics(sae, PerInstance(), samples=100)
    assert stats["shrinkage"][1] == 0 and stats["shrinkage"][0] > 0


NOT_NUMBERS = ("name_polytope", "monosemantic", "fires_on")  # answers that are names or bools
BAD_ANSWERS = [
    ("not callable", 3, "not a function"),
    ("raises", lambda *a: 1 / 0, "ZeroDivisionError"),
    ("wrong shape", lambda *a: torch.zeros(2), "shape"),
    ("nan", lambda *a: torch.full((64, 5), NAN), "NaN"),
    ("a string", lambda *a: "x", "numbers"),
]


@pytest.mark.parametrize("name", list(exercises.CHECKERS))
@pytest.mark.parametrize("label, answer, says", BAD_ANSWERS, ids=[label for label, _, _ in BAD_ANSWERS])
def test_checkers_say_in_one_line_what_is_wrong_with_a_broken_answer(name, label, answer, says, capsys):
    with pytest.raises(AssertionError) as caught:
        exercises.CHECKERS[name](answer)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{name}:"), message
    if label in ("not callable", "raises") or (label == "nan" and name not in NOT_NUMBERS):
        assert says in message, message
    assert capsys.readouterr().out == ""  # no ✓ printed


def test_checkers_catch_the_likely_wrong_samplers():
    def one_draw_per_sample(n_features, p, batch, generator):
        active = torch.rand(batch, 1, generator=generator) < p
        return active * torch.rand(batch, n_features, generator=generator)

    def one_uniform_for_member_and_value(p, batch, generator):
        active = torch.rand(batch, generator=generator) < p
        u = torch.rand(batch, generator=generator)
        member = (u < 0.5).long()
        x = torch.zeros(batch, 2)
        x[torch.arange(batch), member] = u * active
        return x

    def constant_values(p, batch, generator):
        active = torch.rand(batch, generator=generator) < p
        member = torch.randint(0, 2, (batch,), generator=generator)
        x = torch.zeros(batch, 2)
        x[torch.arange(batch), member] = 0.5 * active
        return x

    with pytest.raises(AssertionError, match="independently"):
        exercises.check_sample_features(one_draw_per_sample)
    for wrong in (one_uniform_for_member_and_value, constant_values):
        with pytest.raises(AssertionError, match="uniform"):
            exercises.check_anticorrelated_pair(wrong)
