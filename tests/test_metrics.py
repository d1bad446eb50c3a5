"""metrics: hand-computed values on small matrices."""

import math

import numpy as np
import pytest
import torch

from tms_tutorial import metrics


def polygon(k: int) -> torch.Tensor:
    """k unit vectors evenly spaced around the circle, shape (1, 2, k)."""
    angles = torch.arange(k) * 2 * math.pi / k
    return torch.stack([torch.cos(angles), torch.sin(angles)])[None]


def test_orthogonal_features():
    W = torch.eye(3)[None]
    assert torch.allclose(metrics.feature_norms(W), torch.ones(1, 3))
    assert torch.allclose(metrics.superposition(W), torch.zeros(1, 3))
    assert torch.allclose(metrics.feature_dimensionality(W), torch.ones(1, 3))
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.ones(1))


def test_antipodal_pair():
    W = torch.tensor([[[1.0, -1.0]]])  # m = 1, n = 2
    assert torch.allclose(metrics.superposition(W), torch.ones(1, 2))
    assert torch.allclose(metrics.feature_dimensionality(W), torch.full((1, 2), 0.5))
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.tensor([0.5]))


@pytest.mark.parametrize("k, dimensionality", [(3, 2 / 3), (5, 2 / 5)])
def test_regular_polygons(k, dimensionality):
    W = polygon(k)
    assert torch.allclose(metrics.feature_dimensionality(W), torch.full((1, k), dimensionality), atol=1e-6)
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.tensor([2 / k]))


def test_unequal_features_by_hand():
    W = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])  # w0 = (1, 0), w1 = (0.5, 0)
    # ŵ0·w1 = 0.5 -> 0.25; ŵ1·w0 = 1 -> 1.
    assert torch.allclose(metrics.superposition(W), torch.tensor([[0.25, 1.0]]))
    # D0 = 1 / (1 + 0.25); D1 = 0.25 / (0.25 + 1).
    assert torch.allclose(metrics.feature_dimensionality(W), torch.tensor([[0.8, 0.2]]))
    assert torch.allclose(metrics.dimensions_per_feature(W), torch.tensor([2 / 1.25]))


def test_features_that_are_not_represented():
    W = torch.tensor([[[1.0, 0.0, 0.05], [0.0, 0.0, 0.0]]])
    assert torch.allclose(metrics.feature_dimensionality(W)[0, 1], torch.tensor(0.0))
    assert not torch.isnan(metrics.feature_dimensionality(W)).any()
    # Feature 2 is shorter than min_norm: no superposition is reported for it ...
    assert metrics.superposition(W)[0, 2] == 0
    # ... though it interferes with feature 0, which is represented.
    assert metrics.superposition(W)[0, 0] .item() == pytest.approx(0.0025, rel=1e-4)
    assert metrics.superposition(W, min_norm=0.01)[0, 2].item() == pytest.approx(1.0, rel=1e-5)


def test_accepts_numpy_and_parameters():
    W = np.eye(2)[None]
    assert torch.allclose(metrics.feature_norms(W), torch.ones(1, 2))
    parameter = torch.nn.Parameter(torch.eye(2)[None])
    assert not metrics.superposition(parameter).requires_grad


@pytest.mark.parametrize(
    "function", [metrics.feature_norms, metrics.superposition, metrics.feature_dimensionality, metrics.dimensions_per_feature]
)
def test_wrong_shape_raises_naming_W(function):
    with pytest.raises(ValueError, match="W must have shape"):
        function(torch.eye(2))


def test_negative_min_norm_raises():
    with pytest.raises(ValueError, match="min_norm"):
        metrics.superposition(torch.eye(2)[None], min_norm=-1)


def tetrahedron() -> torch.Tensor:
    """4 unit vectors in 3 dimensions at equal angles (cos = -1/3), shape (3, 4)."""
    V = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]).T
    return V / V.norm(dim=0)


def square_antiprism() -> torch.Tensor:
    """8 unit vectors: two squares, rotated 45 degrees against each other, above and below, shape (3, 8).

    At heights +-1/sqrt(3) the vertices form a tight frame (sum of w w^T = 8/3 I), so every
    feature's dimensionality is exactly 3/8."""
    angles = torch.arange(8) * math.pi / 4
    z = torch.tensor([1.0 if k % 2 == 0 else -1.0 for k in range(8)]) / math.sqrt(3)
    r = torch.sqrt(1 - z**2)
    return torch.stack([r * torch.cos(angles), r * torch.sin(angles), z])


def block(*parts: torch.Tensor) -> torch.Tensor:
    """Place polytopes in mutually orthogonal subspaces (a tegum product), shape (1, sum m, sum n)."""
    return torch.block_diag(*parts)[None]


def test_dimensionality_of_known_polytopes():
    assert torch.allclose(metrics.feature_dimensionality(tetrahedron()[None]), torch.full((1, 4), 0.75), atol=1e-6)
    D = metrics.feature_dimensionality(square_antiprism()[None])
    assert torch.allclose(D, torch.full((1, 8), 3 / 8), atol=1e-6)


def test_geometry_recognizer_names_polytopes_and_tegum_factors():
    digon = torch.tensor([[1.0, -1.0]])
    triangle, pentagon = polygon(3)[0], polygon(5)[0]
    dedicated = torch.ones(1, 1)
    unlearned = torch.zeros(1, 1)
    W = block(digon, triangle, pentagon, tetrahedron(), dedicated, unlearned)
    names = metrics.feature_geometry(W)[0]
    assert names == (["digon"] * 2 + ["triangle"] * 3 + ["pentagon"] * 5 + ["tetrahedron"] * 4
                     + ["dedicated dimension", "not learned"])
    # triangular bipyramid = triangle x digon; octahedron = three digons
    assert metrics.feature_geometry(block(triangle, digon))[0] == ["triangle"] * 3 + ["digon"] * 2
    assert metrics.feature_geometry(block(digon, digon, digon))[0] == ["digon"] * 6
    assert metrics.feature_geometry(square_antiprism()[None])[0] == ["square antiprism"] * 8


def test_geometry_recognizer_is_rotation_invariant_and_flags_other_shapes():
    W = block(polygon(3)[0], tetrahedron(), torch.tensor([[1.0, -1.0]]))[0]  # (6, 9)
    rotation = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0)))[0]
    names = metrics.feature_geometry((rotation @ W)[None])[0]
    assert names == ["triangle"] * 3 + ["tetrahedron"] * 4 + ["digon"] * 2
    fan = polygon(8)[0][:, :4]  # 4 features 45 degrees apart in 2 dimensions: no uniform polytope
    assert metrics.feature_geometry(fan[None])[0] == ["other (4 in 2)"] * 4
    square = polygon(4)[0]  # two orthogonal antipodal pairs: a tegum product of two digons
    assert metrics.feature_geometry(square[None])[0] == ["digon"] * 4


def test_canonical_orientation_undoes_rotations_and_reflections():
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()]) * 1.1
    turned = []
    for theta, flip in [(0.7, 1.0), (-2.0, -1.0), (3.0, 1.0)]:
        rotation = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        turned.append(torch.diag(torch.tensor([1.0, flip])) @ rotation @ pentagon)
    out = metrics.canonical_orientation(torch.stack(turned), anchor=2)
    for k in range(3):
        assert torch.allclose(out[k].T @ out[k], pentagon.T @ pentagon, atol=1e-5)  # only turned, not changed
        assert out[k][1, 2].abs() < 1e-5 and out[k][0, 2] > 0  # the anchor along +x
        assert torch.allclose(out[k], out[0], atol=1e-5)  # one pose for all three
    dropped = pentagon.clone()
    dropped[:, 0] = 0.0  # anchor not learned: the first learned feature is used
    assert metrics.canonical_orientation(dropped[None])[0][1, 1].abs() < 1e-5
    with pytest.raises(ValueError, match="n_hidden = 2"):
        metrics.canonical_orientation(torch.zeros(1, 3, 4))
    with pytest.raises(ValueError, match="anchor"):
        metrics.canonical_orientation(pentagon[None], anchor=5)


def test_count_superposed_on_a_pentagon_and_orthogonal_features():
    W = torch.cat([polygon(5), torch.cat([torch.eye(2), torch.zeros(2, 3)], dim=1)[None]])
    represented, superposed = metrics.count_superposed(W)
    assert represented.tolist() == [5, 2]
    assert superposed.tolist() == [5, 0]


def test_pair_cosines():
    W = torch.tensor([[[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]])
    assert torch.allclose(metrics.pair_cosines(W, [(0, 1), (0, 2), (2, 3)]), torch.tensor([[-1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="pairs"):
        metrics.pair_cosines(W, [(0, 4)])


def test_neighbour_angle_is_72_degrees_in_a_regular_pentagon():
    W = polygon(5)
    assert metrics.neighbour_angle(W, feature=2).item() == pytest.approx(72.0, abs=1e-3)
    dropped = W.clone()
    dropped[0, :, 0] = 0
    assert torch.isnan(metrics.neighbour_angle(dropped, feature=0)).all()
    with pytest.raises(ValueError, match="feature"):
        metrics.neighbour_angle(W, feature=5)


def test_nan_weights_are_flagged_not_reported_as_not_learned():
    W = polygon(5).clone()
    W[0, 0, 1] = float("nan")
    for function in (metrics.feature_dimensionality, metrics.superposition, metrics.feature_norms):
        with pytest.raises(ValueError, match="NaN"):
            function(W)


def test_plateaus_are_flat_stretches_and_moving_values_belong_to_none():
    values = [1.0, 1.0, 0.99, 0.8, 0.6, 0.5, 0.51, 0.5, 0.45, 0.4, 0.4]
    assert [(a, b, round(level, 3)) for a, b, level in metrics.plateaus(values)] == \
        [(0, 2, 0.997), (5, 7, 0.503), (9, 10, 0.4)]
    assert metrics.plateaus([0.5], min_length=2) == []
    with pytest.raises(ValueError, match="min_length"):
        metrics.plateaus(values, min_length=0)
    with pytest.raises(ValueError, match="finite"):
        metrics.plateaus([1.0, float("nan")])


def test_dimensionality_jumps_finds_each_change_of_level_with_its_steps():
    steps = [0, 10, 20, 40, 80, 160, 320, 640]
    D = torch.tensor([
        [1.0, 1.0, 1.0, 0.7, 0.5, 0.5, 0.5, 0.5],    # feature 0: 1 -> 1/2, between steps 20 and 80
        [0.4, 0.4, 0.41, 0.4, 0.4, 0.4, 0.375, 0.375],  # feature 1: 2/5 -> 3/8 is below min_change: no jump
        [0.0, 0.0, 0.3, 0.5, 0.5, 0.5, 0.4, 0.4],    # feature 2: 0 -> 1/2 (20-40 moving), then 1/2 -> 2/5
    ]).T
    jumps = metrics.dimensionality_jumps(steps, D)
    found = [(j["feature"], j["step_before"], j["step_after"]) for j in jumps]
    assert found == [(2, 10, 40), (0, 20, 80), (2, 160, 320)]
    assert jumps[1]["level_before"] == pytest.approx(1.0) and jumps[1]["level_after"] == pytest.approx(0.5)
    assert len(metrics.dimensionality_jumps(steps, D, min_change=0.01)) == 4  # now 2/5 -> 3/8 counts
    with pytest.raises(ValueError, match="same k"):
        metrics.dimensionality_jumps(steps[:-1], D)
    with pytest.raises(ValueError, match="increase"):
        metrics.dimensionality_jumps(steps[::-1], D)


def test_effective_features_counts_features_used_alike_and_ignores_dropped_ones():
    W = torch.zeros(3, 2, 4)
    W[0] = torch.tensor([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]])  # four features alike
    W[1, 0, 0] = 2.0  # one feature alone
    W[2] = torch.tensor([[1.0, 0.0, 0.05, 0.0], [0.0, 1.0, 0.0, 0.0]])  # two, and a third below min_norm
    count = metrics.effective_features(W)
    assert count.tolist() == pytest.approx([4.0, 1.0, 2.0], abs=1e-6)
    assert metrics.effective_features(W[2:], min_norm=0.0).item() > 2.1  # counted when min_norm allows it
    halves = metrics.effective_features(W[:1], feature_mean=torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert halves.item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="feature_mean"):
        metrics.effective_features(W, feature_mean=torch.ones(3))
    assert metrics.effective_features(torch.full((1, 2, 3), 0.01)).item() == 0.0  # nothing represented
    with pytest.raises(ValueError, match="min_norm"):
        metrics.effective_features(W, min_norm=-1)


def test_neuron_features_count_positive_weights_relative_to_each_neurons_largest():
    W = torch.tensor([[[1.0, 0.3, 0.2, -2.0],     # features 0 and 1 (0.3 >= 0.25); the -2 cannot fire it
                       [0.04, 0.0, 0.0, 0.02],    # faint but alive: 0.04 < min_weight 0.1 -> dead
                       [-1.0, -0.5, 0.0, 0.0],    # never fires on non-negative features
                       [0.0, 0.0, 0.5, 0.0]]])    # monosemantic
    responds = metrics.neuron_features(W)
    assert responds[0].tolist() == [[True, True, False, False], [False] * 4, [False] * 4,
                                    [False, False, True, False]]
    signed = metrics.neuron_features(W, signed_inputs=True)
    assert signed[0, 0].tolist() == [True, False, False, True]  # relative to |-2|: only 1.0 and -2 count
    assert signed[0, 2].tolist() == [True, True, False, False]
    counts = metrics.neuron_counts(W)
    assert (counts["monosemantic"].item(), counts["polysemantic"].item(), counts["dead"].item()) == (1, 1, 2)
    with pytest.raises(ValueError, match="threshold"):
        metrics.neuron_features(W, threshold=0.0)


def test_neuron_regime_names_the_papers_blocks():
    mono = torch.eye(5, 10)  # five features, each in its own neuron
    assert metrics.neuron_regime(mono)["label"] == "5 monosemantic"
    W = torch.zeros(5, 10)
    W[0, 0] = W[1, 1] = W[2, 2] = 1.0
    W[3, 3], W[3, 4], W[3, 5] = 0.9, 0.8, -0.8  # three features in two neurons, each with a negative weight
    W[4, 3], W[4, 4], W[4, 5] = 0.9, -0.8, 0.8
    regime = metrics.neuron_regime(W)
    assert regime["monosemantic"] == 3 and regime["blocks"] == [((3, 4, 5), (3, 4))]
    assert regime["label"] == "3 monosemantic + 3 features in 2 neurons"
    assert regime["represented"] == 6
    assert regime["neurons_per_feature"] == pytest.approx(7 / 6)
    # features spread over pairs of neurons: every feature fires exactly two neurons
    pairs = torch.zeros(5, 10)
    for i in range(10):
        pairs[i % 5, i] = pairs[(i + 1) % 5, i] = 0.7
    regime = metrics.neuron_regime(pairs)
    assert regime["monosemantic"] == 0 and regime["neurons_per_feature"] == 2.0
    assert regime["label"] == "10 features in 5 neurons"
    assert metrics.neuron_regime(torch.zeros(5, 10))["label"] == "nothing represented"


def test_asymmetric_superposition_finds_the_papers_motif_and_nothing_in_clean_pairs():
    n, m = 4, 4
    W1, W2 = torch.zeros(1, m, n), torch.zeros(1, n, m)
    # neuron 0: ReLU(2 x0 - x1 / 2); output 1/2 to y0 and 2 to y1: the paper's example
    W1[0, 0, 0], W1[0, 0, 1], W2[0, 0, 0], W2[0, 1, 0] = 2.0, -0.5, 0.5, 2.0
    # neurons 2, 3: a clean pair ReLU(x2) + ReLU(-x2) for feature 2
    W1[0, 2, 2], W1[0, 3, 2], W2[0, 2, 2], W2[0, 2, 3] = 1.0, -1.0, 1.0, 1.0
    found = metrics.asymmetric_superposition(W1, W2)
    assert found == [[{"neuron": 0, "strong": 0, "weak": 1, "inputs": (2.0, -0.5), "outputs": (0.5, 2.0)}]]
    W2[0, 0, 0] = 0.05  # the neuron hardly computes its strong feature: not the motif
    assert metrics.asymmetric_superposition(W1, W2) == [[]]
    W2[0, 0, 0], W1[0, 0, 1] = 0.5, 0.5  # same sign: not the motif
    assert metrics.asymmetric_superposition(W1, W2) == [[]]
    with pytest.raises(ValueError, match="W2 must have shape"):
        metrics.asymmetric_superposition(W1, W2.transpose(1, 2)[:, :3])


def test_decoder_cosines_and_mmcs_on_known_directions():
    W = torch.tensor([[1.0, 0.0, 1.0], [0.0, 2.0, 1.0]])  # features: x, y, diagonal
    W_dec = torch.tensor([[[3.0, 0.0], [0.0, -1.0], [1.0, 1.0], [0.0, 0.5]]])
    cos = metrics.decoder_cosines(W_dec, W)
    assert cos.shape == (1, 3, 4)
    assert torch.allclose(cos[0, 0], torch.tensor([1.0, 0.0, math.sqrt(0.5), 0.0]), atol=1e-6)
    assert torch.allclose(cos[0, 1], torch.tensor([0.0, -1.0, math.sqrt(0.5), 1.0]), atol=1e-6)  # signed
    assert torch.allclose(metrics.mmcs(W_dec, W), torch.tensor([1.0]), atol=1e-6)
    recovery = metrics.feature_recovery(W_dec, W)
    assert torch.allclose(recovery["matched"], torch.tensor([1.0]), atol=1e-6) and recovery["recovered"].item() == 3
    assert metrics.matched_latents(W_dec, W).tolist() == [[0, 3, 2]]


def test_matching_forbids_one_latent_for_two_features():
    W = torch.tensor([[1.0, 1.0], [0.0, 0.2]])  # two close features
    W_dec = torch.tensor([[[1.0, 0.1], [0.0, 1.0]]])  # one latent between them, one far
    recovery = metrics.feature_recovery(W_dec, W)
    assert recovery["mmcs"].item() > 0.98  # both features claim the first latent
    assert recovery["matched"].item() < 0.7 and recovery["recovered"].item() == 1


def test_matching_is_the_best_one_to_one_assignment():
    import itertools

    g = torch.Generator().manual_seed(3)
    for d_sae in (4, 6, 3):
        W, W_dec = torch.randn(3, 4, generator=g), torch.randn(2, d_sae, 3, generator=g)
        cos = metrics.decoder_cosines(W_dec, W)
        latents = metrics.matched_latents(W_dec, W)
        for k in range(2):
            found = sum(cos[k, i, j].item() for i, j in enumerate(latents[k].tolist()) if j >= 0)
            best = max(sum(cos[k, i, j].item() for i, j in enumerate(perm) if j >= 0)
                       for perm in itertools.permutations(list(range(d_sae)) + [-1] * 4, 4)
                       if sum(j >= 0 for j in perm) == min(4, d_sae))  # as many pairs as there can be
            assert abs(found - best) < 1e-5
            assigned = [j for j in latents[k].tolist() if j >= 0]
            assert len(assigned) == len(set(assigned)) == min(4, d_sae)


def test_feature_recovery_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="directions must have shape"):
        metrics.decoder_cosines(torch.zeros(1, 4, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="recovered_at"):
        metrics.feature_recovery(torch.ones(1, 4, 2), torch.ones(2, 3), recovered_at=1.5)


def test_loss_drops_at_moves_finds_drops_that_line_up_with_movement_and_none_where_they_do_not():
    steps = np.arange(0, 10_001, 10)
    t = np.maximum(steps, 1).astype(float)
    trend = 0.3 + 0.5 / np.sqrt(t)
    D = np.zeros((len(steps), 3))
    jumps = [2000, 4500, 8000]
    steps_down = np.zeros(len(steps))
    for k, at in enumerate(jumps):  # feature k steps from 0.3 to 0.5 at its jump, and the loss drops 0.01 there
        D[:, k] = np.where(steps >= at, 0.5, 0.3)
        steps_down += np.where(steps >= at, 0.01, 0.0)
    aligned = metrics.loss_drops_at_moves(steps, trend - steps_down, D, window=10)
    assert aligned["correlation"] > 0.9 and aligned["top_share"] > aligned["top_share_trend"] + 0.3
    noise = np.random.default_rng(0).normal(0, 1e-4, len(steps))
    unrelated = metrics.loss_drops_at_moves(steps, trend + noise, D, window=10)
    assert abs(unrelated["correlation"]) < 0.5
    assert unrelated["top_share"] == pytest.approx(unrelated["top_share_trend"], abs=0.05)
    assert aligned["windows"] == 90 and len(aligned["drop"]) == 90
    with pytest.raises(ValueError, match="same k|one k"):
        metrics.loss_drops_at_moves(steps, trend[:-1], D)
    with pytest.raises(ValueError, match="too few snapshots"):
        metrics.loss_drops_at_moves(steps, trend, D, start=9_990)
    with pytest.raises(ValueError, match="finite"):
        metrics.loss_drops_at_moves(steps, np.full(len(steps), np.nan), D)
