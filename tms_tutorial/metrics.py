"""Measurements of a learned W from the paper.

All functions take W of shape (n_instances, n_hidden, n_features) (a tensor, a
parameter or an array) and return tensors with the instance dimension first.
A feature whose column W_i is zero has no direction: its superposition and its
dimensionality are 0.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_between, check_index, check_number, check_positive_int, check_weights

_ZERO = 1e-8  # a column shorter than this counts as the zero vector


def feature_norms(W) -> torch.Tensor:
    """‖W_i‖ for every feature: (n_instances, n_features)."""
    return check_weights(W).norm(dim=1)


def _unit_columns(W: torch.Tensor) -> torch.Tensor:
    norms = W.norm(dim=1, keepdim=True)  # (I, 1, n)
    return torch.where(norms > _ZERO, W / norms.clamp_min(_ZERO), torch.zeros_like(W))


def _projections(W: torch.Tensor) -> torch.Tensor:
    """(Ŵ_i · W_j)^2 for every pair: (n_instances, n_features i, n_features j)."""
    return (_unit_columns(W).transpose(1, 2) @ W) ** 2


def superposition(W, min_norm: float = 0.1) -> torch.Tensor:
    """Interference felt by each feature: sum over j ≠ i of (Ŵ_i · W_j)^2.

    Zero when feature i is orthogonal to every other feature; the paper
    colours the bar of ‖W_i‖ by this quantity. A feature with ‖W_i‖ < min_norm
    is taken as not represented and gets 0: the direction of a near-zero
    column is noise left by training (weight decay shrinks it but never to
    exactly zero), and would otherwise report spurious superposition.
    Returns (n_instances, n_features).
    """
    min_norm = check_number(min_norm, "min_norm")
    W = check_weights(W)
    proj = _projections(W)
    total = proj.sum(dim=2) - proj.diagonal(dim1=1, dim2=2)
    return torch.where(W.norm(dim=1) >= max(min_norm, _ZERO), total, torch.zeros_like(total))


def feature_dimensionality(W) -> torch.Tensor:
    """The paper's D_i = ‖W_i‖^2 / sum_j (Ŵ_i · W_j)^2 (j runs over all features).

    1 for a feature with a dimension of its own, 1/2 for an antipodal pair,
    2/5 for a pentagon's vertices, 0 for a feature that is not represented.
    Returns (n_instances, n_features).
    """
    W = check_weights(W)
    denominator = _projections(W).sum(dim=2)
    norms_sq = (W**2).sum(dim=1)
    return torch.where(denominator > 0, norms_sq / denominator.clamp_min(1e-30), torch.zeros_like(norms_sq))


def dimensions_per_feature(W) -> torch.Tensor:
    """The paper's D* = m / ‖W‖_F^2, hidden dimensions per (embedded) feature: (n_instances,)."""
    W = check_weights(W)
    return W.shape[1] / (W**2).sum(dim=(1, 2))


def effective_features(W, feature_mean=None, min_norm: float = 0.1) -> torch.Tensor:
    """Bereska et al.'s (2025) effective number of features, exp(H(p)), for toy models: (n_instances,).

    They measure superposition as the exponential of the Shannon entropy of the share
    of activation each latent of a sparse autoencoder carries. A toy model's features are
    known, so here the model's own features stand in for the latents: feature i is written
    into the hidden layer as a_i = x_i W_i, whose mean size is E[x_i] ||W_i||, and
    p_i = E[x_i] ||W_i|| / sum_j E[x_j] ||W_j||. n features used alike give n; one
    feature alone gives 1. A feature with ||W_i|| < min_norm counts as not represented
    (its share is 0, like a dead latent's), and a model that represents none has 0.
    feature_mean: E[x_i], shape (n,) or (n_instances, n) (default: equal for every feature).
    """
    min_norm = check_number(min_norm, "min_norm")
    W = check_weights(W)
    norms = W.norm(dim=1)  # (I, n)
    weight = torch.where(norms >= min_norm, norms, torch.zeros_like(norms))
    if feature_mean is not None:
        mean = torch.as_tensor(feature_mean, dtype=weight.dtype)
        if mean.shape not in ((W.shape[2],), (W.shape[0], W.shape[2])) or (mean < 0).any() \
                or not torch.isfinite(mean).all():
            raise ValueError(f"feature_mean must be finite and >= 0 with shape (n_features,) or (n_instances, n_features) = "
                             f"{(W.shape[0], W.shape[2])}; got shape {tuple(mean.shape)}")
        weight = weight * mean
    total = weight.sum(dim=1, keepdim=True)
    share = weight / total.clamp_min(1e-30)
    entropy = -(share * share.clamp_min(1e-30).log()).sum(dim=1)
    return torch.where(total[:, 0] > 0, entropy.exp(), torch.zeros_like(entropy))


def count_superposed(W, min_norm: float = 0.5, threshold: float = 0.1):
    """Per instance, (features represented, of those the superposed): two (n_instances,) integer tensors.

    Represented: ‖W_i‖ > min_norm. Superposed: represented and
    superposition(W)_i = sum_{j≠i} (Ŵ_i·W_j)^2 > threshold.
    """
    W = check_weights(W)
    min_norm, threshold = check_number(min_norm, "min_norm"), check_number(threshold, "threshold")
    represented = feature_norms(W) > min_norm
    superposed = represented & (superposition(W) > threshold)
    return represented.sum(dim=1), superposed.sum(dim=1)


def pair_cosines(W, pairs) -> torch.Tensor:
    """cos(W_i, W_j) for each pair (i, j) in ``pairs``: (n_instances, len(pairs)); 0 for a zero column."""
    W = check_weights(W)
    unit = _unit_columns(W)
    try:
        index = torch.as_tensor(pairs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"pairs must be a list of (i, j) feature indices; got {pairs!r}") from exc
    if index.is_floating_point() or index.dtype == torch.bool or index.shape[-1:] != (2,) or index.dim() > 2:
        raise ValueError(f"pairs must be a list of (i, j) integer feature indices; got {pairs!r}")
    index = index.long().reshape(-1, 2)
    if index.numel() and (index.min() < 0 or index.max() >= W.shape[2]):
        raise ValueError(f"pairs must hold feature indices in [0, {W.shape[2]}); got {pairs!r}")
    return (unit[:, :, index[:, 0]] * unit[:, :, index[:, 1]]).sum(dim=1)


def neighbour_angle(W, feature: int = 0, min_norm: float = 0.5) -> torch.Tensor:
    """Angle in degrees between feature's direction and the nearest other learned feature's: (n_instances,).

    Learned: ‖W_i‖ >= min_norm. 72 for a regular pentagon's vertex; NaN where
    the feature itself, or every other one, is not learned.
    """
    W = check_weights(W)
    feature = check_index(feature, "feature", W.shape[2])
    cosines = (_unit_columns(W)[:, :, feature:feature + 1] * _unit_columns(W)).sum(dim=1).clamp(-1, 1)  # (I, n)
    learned = feature_norms(W) >= min_norm
    others = learned.clone()
    others[:, feature] = False
    angles = torch.rad2deg(torch.acos(cosines)).masked_fill(~others, float("inf")).min(dim=1).values
    return torch.where(learned[:, feature] & others.any(dim=1), angles, torch.full_like(angles, float("nan")))


# Feature dimensionalities of the paper's uniform polytopes (row "Feature dimensionality").
POLYTOPE_DIMENSIONALITY = {
    "dedicated dimension": 1.0,
    "tetrahedron": 3 / 4,
    "triangle": 2 / 3,
    "digon": 1 / 2,
    "pentagon": 2 / 5,
    "square antiprism": 3 / 8,
    "not learned": 0.0,
}
# (features, dimensions they span) of each polytope
_POLYTOPE_SHAPES = {
    (1, 1): "dedicated dimension",
    (2, 1): "digon",
    (3, 2): "triangle",
    (4, 3): "tetrahedron",
    (5, 2): "pentagon",
    (8, 3): "square antiprism",
}


def overlap_groups(Wk: torch.Tensor, min_norm: float = 0.5, threshold: float = 0.2):
    """Connected groups of the learned features of one instance's W (m, n).

    Learned: ‖W_i‖ >= min_norm. Two learned features are joined when
    |W_i . W_j| > threshold. Returns sorted lists of feature indices, in order of
    their first member; groups in mutually orthogonal subspaces come out apart.
    """
    Wk = check_weights(torch.as_tensor(Wk)[None], "Wk")[0]
    min_norm, threshold = check_number(min_norm, "min_norm"), check_number(threshold, "threshold")
    learned = (Wk.norm(dim=0) >= min_norm).tolist()
    adjacent = ((Wk.T @ Wk).abs() > threshold).tolist()
    seen, groups = set(), []
    for start, on in enumerate(learned):
        if not on or start in seen:
            continue
        group, frontier = {start}, [start]
        while frontier:
            i = frontier.pop()
            for j, edge in enumerate(adjacent[i]):
                if edge and learned[j] and j not in group:
                    group.add(j)
                    frontier.append(j)
        seen |= group
        groups.append(sorted(group))
    return groups


def feature_geometry(W, min_norm: float = 0.5, threshold: float = 0.2, tolerance: float = 0.05):
    """Name each feature's local structure: which polytope it is a vertex of.

    Features whose ‖W_i‖ < min_norm are "not learned". Among the rest, two
    features are neighbours when |W_i · W_j| > threshold (an edge of the paper's
    feature geometry graph); the connected groups are the factors of a tegum
    product, which lie in mutually orthogonal subspaces. A group of k features
    spanning d dimensions (singular values above 0.1 of the largest) whose
    members' dimensionality within the group (D_i computed from the group's
    columns alone, so that faint overlaps below the threshold with other groups
    do not count) lies within tolerance of the polytope's value is named for
    it: digon (2 in 1), triangle (3 in 2), tetrahedron (4 in 3), pentagon (5 in
    2), square antiprism (8 in 3), or a dedicated dimension (1 in 1). Anything else is "other (k in d)".

    Returns a nested list, one list of names per instance. A tegum product shows
    as its factors: a triangular bipyramid is a triangle and a digon, an
    octahedron three digons.
    """
    min_norm, threshold = check_number(min_norm, "min_norm"), check_number(threshold, "threshold")
    tolerance = check_number(tolerance, "tolerance")
    W = check_weights(W)
    names = []
    for k in range(W.shape[0]):
        Wk = W[k]
        instance = ["not learned"] * W.shape[2]
        for members in overlap_groups(Wk, min_norm, threshold):
            values = torch.linalg.svdvals(Wk[:, members])
            rank = int((values > 0.1 * values[0]).sum())
            name = _POLYTOPE_SHAPES.get((len(members), rank))
            dims = feature_dimensionality(Wk[None, :, members])[0]
            if name is None or any(abs(d - POLYTOPE_DIMENSIONALITY[name]) > tolerance for d in dims.tolist()):
                name = f"other ({len(members)} in {rank})"
            for i in members:
                instance[i] = name
        names.append(instance)
    return names


def canonical_orientation(W, anchor: int = 0, min_norm: float = 0.5) -> torch.Tensor:
    """Rotate and reflect each instance's 2D solution into one standard pose.

    Solutions of a 2-dimensional model are unique only up to a rotation and a
    reflection of the hidden plane; to compare them across a sweep, this turns
    each instance so that feature ``anchor`` points along +x (or, if its
    ‖W_i‖ < min_norm, the first feature that is learned) and reflects it so
    that the next learned feature lies in the upper half plane. W: (I, 2, n).
    Returns the rotated W; W^T W is unchanged.
    """
    W = check_weights(W)
    if W.shape[1] != 2:
        raise ValueError(f"W must have n_hidden = 2; got n_hidden={W.shape[1]}")
    anchor = check_index(anchor, "anchor", W.shape[2])
    out = torch.empty_like(W)
    for k in range(W.shape[0]):
        Wk = W[k]
        learned = (Wk.norm(dim=0) >= min_norm).nonzero().squeeze(1).tolist()
        order = [anchor] + [i for i in learned if i != anchor] if anchor in learned else learned
        if not order:
            out[k] = Wk
            continue
        angle = torch.atan2(Wk[1, order[0]], Wk[0, order[0]])
        c, s = torch.cos(-angle), torch.sin(-angle)
        rotated = torch.stack([c * Wk[0] - s * Wk[1], s * Wk[0] + c * Wk[1]])
        for i in order[1:]:  # the first learned feature off the x axis decides the reflection
            if abs(rotated[1, i]) > 1e-3 * rotated[:, i].norm():
                if rotated[1, i] < 0:
                    rotated[1] = -rotated[1]
                break
        out[k] = rotated
    return out


def plateaus(values, flat: float = 0.02, min_length: int = 2):
    """The flat stretches of one trajectory: a list of (first, last, level) over its indices.

    Greedy from the start: a stretch grows while its values span at most ``flat``, and
    counts if it holds at least ``min_length`` values; its level is their mean. Values
    between plateaus (a feature on the move) belong to none.
    """
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    if not torch.isfinite(values).all():
        raise ValueError("values must be finite")
    min_length = check_positive_int(min_length, "min_length")
    flat = check_number(flat, "flat")
    found, start, k = [], 0, len(values)
    while start < k:
        end, low, high = start, values[start], values[start]
        while end + 1 < k and max(high, values[end + 1]) - min(low, values[end + 1]) <= flat:
            end += 1
            low, high = min(low, values[end]), max(high, values[end])
        if end - start + 1 >= min_length:
            found.append((start, end, values[start:end + 1].mean().item()))
            start = end + 1
        else:
            start += 1
    return found


def dimensionality_jumps(steps, D, flat: float = 0.02, min_length: int = 2, min_change: float = 0.05):
    """Where features jump between dimensionality plateaus during training (the paper's "energy levels").

    steps: (k,) the snapshot steps, increasing; D: (k, n) each feature's D_i at each snapshot
    (metrics.feature_dimensionality of the snapshots of one instance). For each feature its
    plateaus are found (see :func:`plateaus`), and every change of level by more than
    ``min_change`` between one plateau and the next is a jump. Returns a list, in order of
    step, of dicts: feature, step_before (the last step on the old plateau), step_after (the
    first on the new one), level_before, level_after.
    """
    D = torch.as_tensor(D, dtype=torch.float64)
    steps = torch.as_tensor(steps)
    if D.dim() != 2 or steps.dim() != 1 or len(steps) != D.shape[0]:
        raise ValueError(f"steps must have shape (k,) and D shape (k, n_features) with the same k; "
                         f"got {tuple(steps.shape)} and {tuple(D.shape)}")
    if len(steps) > 1 and not (steps[1:] > steps[:-1]).all():
        raise ValueError("steps must increase")
    jumps = []
    for feature in range(D.shape[1]):
        found = plateaus(D[:, feature], flat, min_length)
        for (_, end, before), (start, _, after) in zip(found, found[1:]):
            if abs(after - before) > min_change:
                jumps.append({"feature": feature, "step_before": int(steps[end]), "step_after": int(steps[start]),
                              "level_before": before, "level_after": after})
    return sorted(jumps, key=lambda jump: (jump["step_after"], jump["feature"]))


def loss_drops_at_moves(steps, loss, D, window: int = 10, start: int = 1000, top: float = 0.17) -> dict:
    """Whether the loss drops where the features' dimensionalities move, late in training.

    steps: (k,) snapshot steps at an even spacing; loss: (k,) the loss of each snapshot,
    scored on one fixed evaluation set (evaluate(..., common_samples=True)), so that
    snapshots differ by their weights and not by their samples; D: (k, n) each feature's
    D_i. From the first snapshot at or after ``start`` on, the snapshots are cut into
    windows of ``window`` snapshots. Per window: the drop of the loss across it, the same
    with the trend removed (a quadratic in log step fitted to the late loss, subtracted),
    and the movement sum_i |Delta D_i| across it. Returns floats: "correlation" (of the
    detrended drops with the movements), "top_share" (the share of the whole late drop
    that falls in the ``top`` fraction of windows with the most movement), "top_share_trend"
    (the share the fitted trend alone gives those windows: the baseline, since early
    windows drop more and may move more), "windows"; and arrays "drop", "detrended",
    "movement".
    """
    steps = np.asarray(steps, dtype=float)
    loss = np.asarray(torch.as_tensor(loss, dtype=torch.float64))
    D = np.asarray(torch.as_tensor(D, dtype=torch.float64))
    if steps.ndim != 1 or loss.shape != steps.shape or D.ndim != 2 or D.shape[0] != len(steps):
        raise ValueError(f"steps and loss must have shape (k,) and D (k, n_features) with one k; got "
                         f"{steps.shape}, {loss.shape} and {D.shape}")
    if not (np.isfinite(loss).all() and np.isfinite(D).all()):
        raise ValueError("loss and D must be finite")
    window = check_positive_int(window, "window")
    top = check_between(top, "top", 0, 1, low_open=True, high_open=True)
    late = np.flatnonzero(steps >= start)
    edges = late[::window]
    if len(edges) < 4:
        raise ValueError(f"too few snapshots after step {start} for windows of {window}: need at least 3 windows")
    trend = np.polyval(np.polyfit(np.log(steps[late]), loss[late], 2), np.log(steps))
    residual = loss - trend
    drop = loss[edges[:-1]] - loss[edges[1:]]
    detrended = residual[edges[:-1]] - residual[edges[1:]]
    movement = np.abs(D[edges[1:]] - D[edges[:-1]]).sum(axis=1)
    chosen = np.argsort(-movement, kind="stable")[:max(1, int(round(top * len(movement))))]
    spread = detrended.std() * movement.std()
    correlation = float(((detrended - detrended.mean()) * (movement - movement.mean())).mean() / spread) \
        if spread > 0 else float("nan")
    trend_drop = trend[edges[:-1]] - trend[edges[1:]]
    return {"correlation": correlation, "top_share": float(drop[chosen].sum() / drop.sum()),
            "top_share_trend": float(trend_drop[chosen].sum() / trend_drop.sum()),
            "windows": len(movement), "drop": drop, "detrended": detrended, "movement": movement}


# Neurons: the models of the paper's section "Superposition in a Privileged Basis" have a
# ReLU on the hidden layer, so each hidden dimension (a row W[j, :] of W: its input
# weights) is a neuron, and one can ask which features make it fire.


def neuron_features(W, threshold: float = 0.25, signed_inputs: bool = False,
                    min_weight: float = 0.1) -> torch.Tensor:
    """Which features each neuron responds to: bool (n_instances, n_hidden, n_features).

    Neuron j responds to feature i when its input weight W[j, i] is at least
    ``threshold`` times the neuron's largest one. For non-negative features (the
    NeuronModel's) only positive weights count: a negative weight can only keep the
    neuron quiet. For signed features (signed_inputs=True, the absolute-value task)
    both signs fire a ReLU neuron, so the comparison is on |W[j, i]|. A neuron whose
    largest such weight is below ``min_weight`` responds to nothing (it is dead).
    """
    W = check_weights(W)
    threshold = check_between(threshold, "threshold (a fraction of the neuron's largest weight)", 0, 1, low_open=True)
    min_weight = check_number(min_weight, "min_weight")
    drive = W.abs() if signed_inputs else W.clamp_min(0)
    largest = drive.max(dim=2, keepdim=True).values  # (I, m, 1)
    return (drive >= threshold * largest) & (largest >= max(min_weight, _ZERO))


def neuron_counts(W, threshold: float = 0.25, signed_inputs: bool = False, min_weight: float = 0.1) -> dict:
    """How many neurons respond to one feature, to several, and to none: three (n_instances,) tensors.

    Keys "monosemantic", "polysemantic", "dead"; the arguments as for neuron_features.
    """
    per_neuron = neuron_features(W, threshold, signed_inputs, min_weight).sum(dim=2)  # (I, m)
    return {"monosemantic": (per_neuron == 1).sum(dim=1), "polysemantic": (per_neuron > 1).sum(dim=1),
            "dead": (per_neuron == 0).sum(dim=1)}


def neuron_regime(Wk, threshold: float = 0.25, signed_inputs: bool = False, min_weight: float = 0.1,
                  min_norm: float = 0.5) -> dict:
    """Describe how one model (W of shape (n_hidden, n_features)) lays its features out over its neurons.

    Features with ‖W_i‖ >= min_norm are represented. A neuron and a feature are
    joined when the neuron responds to the feature (neuron_features); the joined
    groups are the model's blocks. Returns a dict:

    * "monosemantic": neurons that respond to exactly one feature, and only they
      respond to it (a block of one feature in one neuron);
    * "blocks": the other blocks as (features, neurons) tuples of indices, largest first;
    * "represented": the number of represented features;
    * "neurons_per_feature": mean number of neurons that respond to a represented feature;
    * "label": e.g. "5 monosemantic", "3 monosemantic + 3 features in 2 neurons".
    """
    Wk = check_weights(torch.as_tensor(Wk)[None], "Wk")[0]
    min_norm = check_number(min_norm, "min_norm")
    responds = neuron_features(Wk[None], threshold, signed_inputs, min_weight)[0]  # (m, n)
    represented = Wk.norm(dim=0) >= min_norm
    responds = responds & represented[None, :]
    m, n = responds.shape
    seen_neurons, blocks, monosemantic = set(), [], 0
    for start in range(m):
        if start in seen_neurons or not responds[start].any():
            continue
        neurons, features, frontier = {start}, set(), [start]
        while frontier:
            j = frontier.pop()
            for i in responds[j].nonzero().squeeze(1).tolist():
                if i not in features:
                    features.add(i)
                    for other in responds[:, i].nonzero().squeeze(1).tolist():
                        if other not in neurons:
                            neurons.add(other)
                            frontier.append(other)
        seen_neurons |= neurons
        if len(features) == 1 and len(neurons) == 1:
            monosemantic += 1
        else:
            blocks.append((tuple(sorted(features)), tuple(sorted(neurons))))
    blocks.sort(key=lambda block: (-len(block[0]), -len(block[1]), block[0]))
    counts = responds[:, represented].sum(dim=0).float()
    parts = [f"{monosemantic} monosemantic"] if monosemantic else []
    parts += [f"{len(f)} features in {len(j)} neurons" if len(j) > 1 else f"{len(f)} features in 1 neuron"
              for f, j in blocks]
    return {"monosemantic": monosemantic, "blocks": blocks, "represented": int(represented.sum()),
            "neurons_per_feature": counts.mean().item() if counts.numel() else 0.0,
            "label": " + ".join(parts) if parts else "nothing represented"}


def asymmetric_superposition(W1, W2, max_input_ratio: float = 0.5, min_output_ratio: float = 2.0,
                             min_gain: float = 0.25) -> list:
    """Find the paper's "asymmetric superposition" motif in absolute-value models.

    W1: (n_instances, n_hidden, n_features) input weights; W2: (n_instances,
    n_features, n_hidden) output weights. The motif is one neuron a that carries
    two features: a strong one i (its largest |W1[a, i]|) and a weak one j of the
    opposite sign, with a small input weight and a large output weight (the paper's
    example: inputs about [2, -1/2], outputs about [1/2, 2]). The neuron then
    computes one half of |x_i| (the sign of W1[a, i]) and the other half of |x_j|.
    A pair (a, i, j) counts when

    * sign W1[a, j] = -sign W1[a, i] and |W1[a, j]| <= max_input_ratio |W1[a, i]|;
    * both output weights are positive and W2[j, a] >= min_output_ratio W2[i, a];
    * the neuron's gain on each of the two, W2[i, a] |W1[a, i]| and W2[j, a] |W1[a, j]|, is
      at least min_gain: it computes a real share of both halves (the example: 1 and 1).

    Returns one list per instance of dicts with keys neuron, strong, weak,
    inputs (W1[a, i], W1[a, j]) and outputs (W2[i, a], W2[j, a]).
    """
    W1, W2 = check_weights(W1, "W1"), check_weights(W2, "W2")
    if W2.shape != (W1.shape[0], W1.shape[2], W1.shape[1]):
        raise ValueError(f"W2 must have shape (n_instances, n_features, n_hidden) = "
                         f"{(W1.shape[0], W1.shape[2], W1.shape[1])}; got {tuple(W2.shape)}")
    max_input_ratio = check_between(max_input_ratio, "max_input_ratio", 0, 1, low_open=True, high_open=True)
    min_output_ratio = check_number(min_output_ratio, "min_output_ratio", low=1, positive=True)
    min_gain = check_number(min_gain, "min_gain")
    found = []
    for k in range(W1.shape[0]):
        w_in, w_out = W1[k], W2[k].T  # (m, n) each: w_out[a, i] is neuron a's output weight to feature i
        strong = w_in.abs().argmax(dim=1)  # (m,)
        s_in = w_in.gather(1, strong[:, None])  # (m, 1)
        s_out = w_out.gather(1, strong[:, None])
        match = ((torch.sign(w_in) == -torch.sign(s_in)) & (w_in.abs() <= max_input_ratio * s_in.abs())
                 & (s_out > 0) & (w_out >= min_output_ratio * s_out) & (w_out * w_in.abs() >= min_gain)
                 & (s_out * s_in.abs() >= min_gain))
        instance = []
        for a, j in match.nonzero().tolist():
            i = int(strong[a])
            instance.append({"neuron": a, "strong": i, "weak": j,
                             "inputs": (round(w_in[a, i].item(), 3), round(w_in[a, j].item(), 3)),
                             "outputs": (round(w_out[a, i].item(), 3), round(w_out[a, j].item(), 3))})
        found.append(instance)
    return found


# Feature recovery: a sparse autoencoder trained on a toy model's hidden activations
# h = W x should find the toy model's feature directions, the columns W_i, among the rows of
# its decoder. Latents are non-negative, so a decoder row can only write its direction
# forwards: cosines are signed, and a row pointing against a feature does not recover it.


def _check_directions(W_dec, directions):
    W_dec = check_weights(W_dec, "W_dec")  # (I, d_sae, d_in)
    try:
        given = torch.as_tensor(directions).detach()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"directions must be an array of numbers; got {type(directions).__name__}") from exc
    directions = check_weights(given[None] if given.dim() == 2 else given, "directions")
    if given.dim() == 2:
        directions = directions.expand(W_dec.shape[0], -1, -1)
    if directions.dim() != 3 or directions.shape[0] != W_dec.shape[0] or directions.shape[1] != W_dec.shape[2]:
        raise ValueError(f"directions must have shape (d_in={W_dec.shape[2]}, n_features) or (n_instances="
                         f"{W_dec.shape[0]}, d_in, n_features) to match W_dec {tuple(W_dec.shape)}; "
                         f"got {tuple(directions.shape)}")
    return W_dec, directions


def decoder_cosines(W_dec, directions) -> torch.Tensor:
    """cos(true feature i, decoder row j): (n_instances, n_features, d_sae).

    W_dec: (n_instances, d_sae, d_in), an SAE's decoder (rows are latent directions).
    directions: the true features as columns, (d_in, n_features) (a toy model's W[k]) or
    (n_instances, d_in, n_features). Zero vectors get cosine 0.
    """
    W_dec, directions = _check_directions(W_dec, directions)
    rows = W_dec / W_dec.norm(dim=2, keepdim=True).clamp_min(_ZERO)
    return _unit_columns(directions).transpose(1, 2) @ rows.transpose(1, 2)


def mmcs(W_dec, directions) -> torch.Tensor:
    """Mean max cosine similarity (Sharkey et al. 2022): mean over true features of the best
    cosine any decoder row reaches with it: (n_instances,). 1 when every feature has a latent
    along it; several features may claim the same latent."""
    return decoder_cosines(W_dec, directions).max(dim=2).values.mean(dim=1)


def _assignment(cost: np.ndarray) -> np.ndarray:
    """Minimum-cost one-to-one assignment of rows to columns (rows <= columns), the Hungarian
    method with potentials; returns the column of each row."""
    rows, cols = cost.shape
    u, v = np.zeros(rows + 1), np.zeros(cols + 1)
    owner = np.zeros(cols + 1, dtype=int)  # owner[j]: the row (1-based) assigned to column j; 0: free
    way = np.zeros(cols + 1, dtype=int)
    for row in range(1, rows + 1):
        owner[0], j0 = row, 0
        slack = np.full(cols + 1, np.inf)
        used = np.zeros(cols + 1, dtype=bool)
        while owner[j0] != 0:
            used[j0] = True
            i0 = owner[j0]
            free = ~used[1:]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, slack[1:], np.inf)
            j1 = int(candidates.argmin()) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            slack[~used] -= delta
            j0 = j1
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    column = np.zeros(rows, dtype=int)
    for j in range(1, cols + 1):
        if owner[j]:
            column[owner[j] - 1] = j - 1
    return column


def matched_latents(W_dec, directions) -> torch.Tensor:
    """A one-to-one matching of true features to latents that maximizes the summed cosine:
    (n_instances, n_features), the latent of each feature (-1 where d_sae < n_features
    leaves a feature without one)."""
    cos = decoder_cosines(W_dec, directions)  # (I, n, d_sae)
    n, d_sae = cos.shape[1:]
    out = torch.full((cos.shape[0], n), -1, dtype=torch.long)
    for k in range(cos.shape[0]):
        c = cos[k].double().numpy()
        if n <= d_sae:
            out[k] = torch.as_tensor(_assignment(-c))
        else:
            features = _assignment(-c.T)  # each latent gets a feature
            out[k, torch.as_tensor(features)] = torch.arange(d_sae)
    return out


def feature_recovery(W_dec, directions, recovered_at: float = 0.9) -> dict:
    """How well an SAE's decoder recovers known feature directions; each value (n_instances,).

    * "mmcs": mean max cosine similarity (see mmcs);
    * "matched": mean cosine of the one-to-one matching (matched_latents), a feature
      left without a latent counting 0: a latent cannot stand for two features here;
    * "recovered": features whose matched cosine exceeds recovered_at.
    """
    recovered_at = check_between(recovered_at, "recovered_at", 0, 1, low_open=True, high_open=True)
    cos = decoder_cosines(W_dec, directions)
    latent = matched_latents(W_dec, directions)
    matched = torch.where(latent >= 0, cos.gather(2, latent.clamp_min(0)[:, :, None])[:, :, 0],
                          torch.zeros(latent.shape))
    return {"mmcs": cos.max(dim=2).values.mean(dim=1), "matched": matched.mean(dim=1),
            "recovered": (matched > recovered_at).sum(dim=1)}


# Polysemanticity without superposition (chapter 7): are the features a rotation away
# from the neurons? With no more features than dimensions an orthogonal map of the
# activations can read every feature off exactly; with more, none can.


def orthogonal_readout(h, x) -> dict:
    """The orthogonal map that best reads features x off activations h, and how well it does.

    h: (samples, m) activations; x: (samples, n) the true features of the same samples.
    Finds R (m, n) with orthonormal columns (m >= n; orthonormal rows if n > m) that
    minimizes ||h R - x||_F (orthogonal Procrustes: R = U V^T from the SVD h^T x = U S V^T).
    Returns {"R": R, "error": ||h R - x||^2 / ||x||^2}: near 0 when the features are an
    orthogonal rotation of the activations (however polysemantic each neuron looks); no
    isometry can do it when n > m, as in superposition.
    """
    h = torch.as_tensor(h).detach().double()
    x = torch.as_tensor(x).detach().double()
    if h.dim() != 2 or x.dim() != 2 or h.shape[0] != x.shape[0] or h.shape[0] == 0:
        raise ValueError(f"h and x must be (samples, m) and (samples, n) with the same samples; "
                         f"got {tuple(h.shape)} and {tuple(x.shape)}")
    if not (torch.isfinite(h).all() and torch.isfinite(x).all()):
        raise ValueError("h and x must be finite")
    U, _, Vh = torch.linalg.svd(h.T @ x, full_matrices=False)
    R = U @ Vh
    total = (x**2).sum().clamp_min(1e-30)
    return {"R": R.float(), "error": (((h @ R - x) ** 2).sum() / total).item()}
