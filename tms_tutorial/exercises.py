"""Checkers for the book's exercises: a student's answer run beside the library's own.

Each ``check_<exercise>(answer)`` calls the student's function on small seeded inputs on
the CPU, compares what it returns with what the library computes, and prints one line if
they agree. If they do not, it raises an AssertionError whose message names the likely
mistake ("did you forget the ReLU?"), so that a failed check teaches. Statistical
exercises (sampling) use tolerances of six standard errors: a correct answer fails with
probability below one in a hundred million, and the typical mistakes fail for certain.

``EXERCISES`` lists every exercise by chapter with the signature the student writes; a
later chapter adds its exercises here and nothing else changes. Nothing here imports
more than the library itself.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Tuple

import torch

from . import metrics, theory

# chapter -> [(exercise, the signature the student implements, what it computes)], in the order the chapter
# poses them (tests/test_assignments.py checks the chapters against this list)
EXERCISES: Dict[int, List[Tuple[str, str, str]]] = {
    1: [
        ("sample_features", "sample_features(n_features, p, batch, generator) -> (batch, n_features)",
         "each feature active with probability p, then uniform on [0, 1]; otherwise 0"),
        ("relu_model", "relu_model(W, b, x) -> (batch, n)",
         "x' = ReLU(W^T W x + b) for W (m, n), b (n,), x (batch, n)"),
        ("importance_loss", "importance_loss(x, x_hat, importance) -> scalar",
         "mean over the batch of sum_i I_i (x_i - x'_i)^2"),
        ("feature_dimensionality", "feature_dimensionality(W) -> (n,)",
         "D_i = |W_i|^2 / sum_j (W_i / |W_i| . W_j)^2, and 0 for a feature with W_i = 0"),
    ],
    2: [
        ("relu_square_mean", "relu_square_mean(a, c) -> E[ReLU(a u + c)^2]", "for u uniform on [0, 1], elementwise"),
        ("dropped_loss", "dropped_loss(p, importance) -> loss", "loss of a feature with W_i = 0 and the best bias"),
        ("antipodal_loss", "antipodal_loss(p, importance_1, importance_2) -> loss",
         "loss of the antipodal pair W = [1, -1], b = 0"),
        ("boundary_density", "boundary_density(r) -> p*", "density below which the pair beats dropping a feature"),
    ],
    3: [
        ("dimensions_per_feature", "dimensions_per_feature(W) -> D*", "m / |W|_F^2 for W (m, n)"),
        ("name_polytope", "name_polytope(D) -> name",
         "the uniform polytope whose D_i is within 0.05 of D, else 'other'"),
        ("anticorrelated_pair", "anticorrelated_pair(p, batch, generator) -> (batch, 2)",
         "with probability p exactly one of the two features, chosen at random, is active (uniform on [0, 1])"),
        ("pair_cosine", "pair_cosine(W, i, j) -> cosine", "the cosine of the angle between W_i and W_j"),
    ],
    4: [
        ("attack_direction", "attack_direction(W, i) -> (n,)",
         "the unit vector along row i of W^T W: the input push that moves output i most"),
        ("pgd_step", "pgd_step(delta, grad, epsilon, step) -> delta'",
         "one step of size `step` along grad / |grad| per sample, then back into the ball |delta| <= epsilon"),
        ("effective_features", "effective_features(weights) -> count",
         "exp of the Shannon entropy (natural log) of weights / weights.sum()"),
    ],
    5: [
        ("neuron_model", "neuron_model(W, b, x) -> (batch, n)",
         "h = ReLU(W x), x' = ReLU(W^T h + b) for W (m, n), b (n,), x (batch, n)"),
        ("monosemantic", "monosemantic(W, threshold) -> (m,) bools",
         "neuron j (row j of W) responds to exactly one feature: one weight >= threshold x its largest, "
         "a positive one"),
        ("signed_features", "signed_features(n_features, p, batch, generator) -> (batch, n_features)",
         "each feature active with probability p, then uniform on [-1, 1]; otherwise 0"),
    ],
    6: [
        ("sae_loss", "sae_loss(x, W_enc, b_enc, W_dec, b_dec, l1_coefficient) -> scalar",
         "f = ReLU((x - b_dec) W_enc + b_enc), x_hat = f W_dec + b_dec; mean over the batch of "
         "|x - x_hat|^2 + l1_coefficient sum_j f_j |W_dec[j]|"),
        ("jumprelu", "jumprelu(z, threshold) -> z's shape", "z where z > threshold (per latent), else 0"),
        ("mmcs", "mmcs(W_dec, W) -> scalar",
         "mean over the true features (columns of W) of the largest cosine any decoder row reaches with it"),
    ],
    7: [
        ("orthogonal_readout", "orthogonal_readout(h, x) -> (m, n)",
         "R with orthonormal columns minimizing |h R - x|: U V^T from the SVD of h^T x"),
        ("fires_on", "fires_on(W1, b1, inputs) -> (items, m) bools",
         "whether each neuron's pre-activation W1 x + b1 is positive on each input row"),
        ("expected_shared_neurons", "expected_shared_neurons(n, m) -> float",
         "expected neurons chosen by two or more of n features, each choosing one of m neurons at random"),
    ],
}

SIGMAS = 6.0  # statistical checks allow this many standard errors


def _passed(name: str, detail: str) -> None:
    print(f"\u2713 {name}: correct ({detail})")


def _tensor(value, name: str) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(value, dtype=torch.float64).cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise AssertionError(f"{name} should return numbers (a tensor or a float); got {type(value).__name__}") from exc
    return tensor


def _shape(out: torch.Tensor, expected: Tuple[int, ...], name: str) -> None:
    assert tuple(out.shape) == expected, f"{name} should return shape {expected}; got {tuple(out.shape)}"


def _close(out, reference, name: str, hints: List[Tuple[torch.Tensor, str]], what: str, atol: float = 1e-5) -> None:
    """Pass if out matches reference; else fail with the hint of the first wrong answer that out matches."""
    out, reference = _tensor(out, name), _tensor(reference, "reference")
    _shape(out, tuple(reference.shape), name)
    if torch.allclose(out, reference, atol=atol, rtol=1e-4):
        return
    for wrong, hint in hints:
        if wrong.shape == out.shape and torch.allclose(out, wrong.to(out.dtype), atol=atol, rtol=1e-4):
            raise AssertionError(f"{name}: {hint}")
    worst = (out - reference).abs().max().item()
    raise AssertionError(f"{name}: wrong {what} (largest difference {worst:.3g}); compare your formula with the text")


def _check_active_share(name: str, active: torch.Tensor, p: float, word: str = "active") -> None:
    """A sampler's share of active entries must be p; 1 - p means the comparison with p is the wrong way round."""
    share, count = active.double().mean().item(), active.numel()
    spread = SIGMAS * math.sqrt(p * (1 - p) / count)
    if abs(share - (1 - p)) < spread:
        raise AssertionError(f"{name}: at p = {p} a share {share:.3f} of the features is {word}, 1 - p: a feature "
                             "is active when the random number is *below* p (check your comparison)")
    assert abs(share - p) < spread, f"{name}: at p = {p} a share {share:.3f} of the features is {word}; expected p"


def _check_uses_generator(answer: Callable, name: str, n: int) -> None:
    """The same seed must give the same draws: every random number comes from the generator passed in."""
    first = _tensor(answer(n, 0.3, 100, torch.Generator().manual_seed(1)), name)
    again = _tensor(answer(n, 0.3, 100, torch.Generator().manual_seed(1)), name)
    assert torch.equal(first, again), f"{name}: draw every random number from the generator you are given"


# ---------------------------------------------------------------- chapter 1


def check_sample_features(answer: Callable) -> None:
    """sample_features(n_features, p, batch, generator): independent features, active with probability p."""
    name = "sample_features"
    n, batch = 20, 20_000
    for p in (0.1, 0.7):
        x = _tensor(answer(n, p, batch, torch.Generator().manual_seed(0)), name)
        _shape(x, (batch, n), name)
        assert ((x >= 0) & (x <= 1)).all(), f"{name}: values must lie in [0, 1]; got {x.min():.3g} to {x.max():.3g}"
        active = x > 0
        _check_active_share(name, active, p)
        values = x[active]
        if torch.allclose(values, torch.ones_like(values)):
            raise AssertionError(f"{name}: every active feature is 1; an active feature takes a value drawn "
                                 "uniformly from [0, 1]")
        mean_spread = SIGMAS * math.sqrt(1 / 12 / len(values))
        assert abs(values.mean().item() - 0.5) < mean_spread, (
            f"{name}: active values average {values.mean():.3f}; values uniform on [0, 1] average 0.5")
        both = (active[:, 0] & active[:, 1]).double().mean().item()  # independent: p^2, not p
        assert abs(both - p * p) < SIGMAS * math.sqrt(p * p * (1 - p * p) / batch) + 1e-12, (
            f"{name}: features 0 and 1 are active together in a share {both:.3f} of the samples; independent "
            f"features are both active with probability p^2 = {p * p:.3f} (draw each entry's activity "
            "independently, one random number per entry)")
        columns = active.double().mean(dim=0)
        assert (columns - p).abs().max() < SIGMAS * math.sqrt(p * (1 - p) / batch), (
            f"{name}: some features are active much more often than others; every feature should be active with "
            "probability p, independently")
    _check_uses_generator(answer, name, n)
    _passed(name, "p = 0.1 and 0.7, 400,000 entries each")


def _random_model(seed: int, m: int = 2, n: int = 5):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(m, n, generator=g, dtype=torch.float64) * 0.7
    b = torch.randn(n, generator=g, dtype=torch.float64) * 0.3
    x = torch.rand(64, n, generator=g, dtype=torch.float64) * (torch.rand(64, n, generator=g) < 0.4)
    return W, b, x


def check_relu_model(answer: Callable) -> None:
    """relu_model(W, b, x) = ReLU(x W^T W + b), for a batch x of shape (batch, n)."""
    name = "relu_model"
    for seed in range(3):
        W, b, x = _random_model(seed)
        try:
            out = answer(W.clone(), b.clone(), x.clone())
        except NotImplementedError:  # a stub not filled in yet: its own message says what to do
            raise
        except RuntimeError as exc:  # torch's shape errors
            raise AssertionError(f"{name}: {exc}; the hidden layer is h = W x (m numbers per sample), the output "
                                 "W^T h + b (n numbers): with a batch of rows, x @ W.T @ W") from exc
        linear = x @ W.T @ W + b
        _close(out, torch.relu(linear), name, [
            (linear, "did you forget the ReLU? Outputs must not be negative"),
            (torch.relu(x @ W.T @ W), "did you forget the bias b?"),
            (x @ W.T @ W + b, "did you forget the ReLU?"),
        ], "output")
    _passed(name, "3 random models, batch of 64")


def check_importance_loss(answer: Callable) -> None:
    """importance_loss(x, x_hat, importance): mean over the batch of sum_i I_i (x_i - x'_i)^2."""
    name = "importance_loss"
    g = torch.Generator().manual_seed(5)
    x, x_hat = torch.rand(32, 6, generator=g, dtype=torch.float64), torch.rand(32, 6, generator=g, dtype=torch.float64)
    importance = 0.8 ** torch.arange(6, dtype=torch.float64)
    error = x - x_hat
    reference = (importance * error**2).sum(dim=1).mean()
    _close(answer(x.clone(), x_hat.clone(), importance.clone()), reference, name, [
        ((error**2).sum(dim=1).mean(), "did you weight each feature's squared error by its importance I_i?"),
        ((importance * error**2).mean(), "sum over the features and average over the batch (you averaged over both)"),
        ((importance * error.abs()).sum(dim=1).mean(), "square the errors"),
        ((importance * error**2).sum(), "average over the batch, not sum"),
    ], "loss")
    _passed(name, "a batch of 32, 6 features")


def check_feature_dimensionality(answer: Callable) -> None:
    """feature_dimensionality(W) for W (m, n): D_i = |W_i|^2 / sum_j (W^_i . W_j)^2; 0 where W_i = 0."""
    name = "feature_dimensionality"
    W, _, _ = _random_model(7, m=3, n=6)
    W[:, 5] = 0.0  # a feature the model does not represent
    reference = metrics.feature_dimensionality(W[None])[0]
    G = W.T @ W
    norms2 = G.diagonal()
    unnormalized = norms2 / (G**2).sum(dim=1)
    others = norms2 / ((G / norms2.clamp_min(1e-12).sqrt()[:, None]) ** 2 * (1 - torch.eye(6, dtype=W.dtype))).sum(1)
    out = _tensor(answer(W.clone()), name)
    _shape(out, (6,), name)
    assert torch.isfinite(out).all(), f"{name}: a feature with W_i = 0 has D_i = 0, not NaN or inf (divide with care)"
    _close(out, reference, name, [
        (unnormalized.nan_to_num(0.0), "project on the *unit* vector W_i / |W_i| before squaring"),
        (others.nan_to_num(0.0), "the sum over j includes j = i (the feature itself)"),
    ], "dimensionality")
    _passed(name, "a random W of 6 features in 3 dimensions, one of them zero")


# ---------------------------------------------------------------- chapter 2


_DENSITIES = torch.tensor([0.01, 0.1, 0.3, 0.7, 1.0], dtype=torch.float64)


def check_dropped_loss(answer: Callable) -> None:
    """dropped_loss(p, importance) = importance (p/3 - p^2/4): the variance the best bias p/2 leaves."""
    name = "dropped_loss"
    importance = torch.tensor(0.7, dtype=torch.float64)
    out = torch.stack([_tensor(answer(p.item(), 0.7), name) for p in _DENSITIES])
    _close(out, theory.dropped_loss(_DENSITIES, importance), name, [
        (importance * _DENSITIES / 3, "that is E[x^2] = p/3, the loss with bias 0; the best bias p/2 leaves the "
                                      "variance p/3 - p^2/4"),
        (importance * _DENSITIES / 12, "x is 0 with probability 1 - p, so its variance is p/3 - p^2/4, not p/12"),
        (_DENSITIES / 3 - _DENSITIES**2 / 4, "multiply by the feature's importance"),
    ], "loss")
    _passed(name, "five densities")


def check_antipodal_loss(answer: Callable) -> None:
    """antipodal_loss(p, i1, i2) = p^2 (i1 + i2) / 6."""
    name = "antipodal_loss"
    out = torch.stack([_tensor(answer(p.item(), 1.0, 0.4), name) for p in _DENSITIES])
    p = _DENSITIES
    _close(out, theory.antipodal_loss(p, 1.0, 0.4), name, [
        (p * 1.4 / 6, "the pair errs only when *both* features are active: probability p^2"),
        (p**2 * 1.4 / 3, "the mean of min(u, v)^2 for u, v uniform on [0, 1] is 1/6"),
        (p**2 / 6, "each feature's error is weighted by its own importance: (I_1 + I_2)"),
    ], "loss")
    _passed(name, "five densities")


def check_boundary_density(answer: Callable) -> None:
    """boundary_density(r) = 4 min(1, r) / (2 (1 + r) + 3 min(1, r))."""
    name = "boundary_density"
    r = torch.tensor([0.1, 0.5, 1.0, 2.0, 10.0], dtype=torch.float64)
    out = torch.stack([_tensor(answer(value.item()), name) for value in r])
    _close(out, theory.n2_boundaries(r), name, [
        (4 * r / (2 * (1 + r) + 3 * r), "above r = 1 the pair competes with dropping feature 1, the *less* important "
                                        "one: use min(1, r)"),
    ], "density")
    _passed(name, "r from 0.1 to 10")


def check_relu_square_mean(answer: Callable) -> None:
    """relu_square_mean(a, c) = E[ReLU(a u + c)^2] for u uniform on [0, 1], elementwise."""
    name = "relu_square_mean"
    a = torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, 0.0, 0.0], dtype=torch.float64)
    c = torch.tensor([0.0, 0.5, -0.2, 0.1, -3.0, 0.3, -0.3], dtype=torch.float64)
    out = _tensor(answer(a.clone(), c.clone()), name)
    _shape(out, tuple(a.shape), name)
    bad = ~torch.isfinite(out)
    assert not bad.any(), (f"{name}: NaN or inf at a = {a[bad].tolist()}, c = {c[bad].tolist()}; where a = 0 the "
                           "integrand is the constant ReLU(c)^2 (do not divide by a there)")
    _close(out, theory.relu_moments(a, c)[0], name, [
        (a * a / 3 + a * c + c * c, "the ReLU is zero where a u + c < 0: integrate only over the part of [0, 1] "
                                    "where a u + c > 0"),
    ], "mean")
    _passed(name, "7 pairs (a, c), both signs, a = 0 included")


# ---------------------------------------------------------------- chapter 3


def check_dimensions_per_feature(answer: Callable) -> None:
    """dimensions_per_feature(W) = m / |W|_F^2 for W (m, n)."""
    name = "dimensions_per_feature"
    W, _, _ = _random_model(11, m=3, n=8)
    frob2 = (W**2).sum()
    _close(_tensor(answer(W.clone()), name), 3 / frob2, name, [
        (8 / frob2, "D* counts dimensions per feature: m (the hidden size, W.shape[0]) over |W|_F^2"),
        (3 / frob2.sqrt(), "square the Frobenius norm: |W|_F^2 = sum of every W_ij^2"),
        (frob2 / 3, "D* = m / |W|_F^2, not its inverse"),
    ], "value")
    _passed(name, "a random W of 8 features in 3 dimensions")


def check_name_polytope(answer: Callable) -> None:
    """name_polytope(D): the uniform polytope whose D_i lies within 0.05 of D, else 'other'."""
    name = "name_polytope"
    cases = {value + shift: polytope for polytope, value in metrics.POLYTOPE_DIMENSIONALITY.items()
             if polytope not in ("not learned", "pentagon", "square antiprism") for shift in (-0.02, 0.0, 0.02)}
    cases.update({0.4: "pentagon", 0.375: "square antiprism", 0.58: "other", 0.88: "other"})
    for D, expected in cases.items():
        got = answer(D)
        assert got == expected, (f"{name}({D:.3f}) gave {got!r}, expected {expected!r}: the levels are "
                                 + ", ".join(f"{k} {v:.3f}" for k, v in metrics.POLYTOPE_DIMENSIONALITY.items())
                                 + "; a value more than 0.05 from the nearest one is 'other'")
    _passed(name, f"{len(cases)} values")


def check_anticorrelated_pair(answer: Callable) -> None:
    """anticorrelated_pair(p, batch, generator): with probability p exactly one member is active."""
    name = "anticorrelated_pair"
    p, batch = 0.3, 200_000
    x = _tensor(answer(p, batch, torch.Generator().manual_seed(3)), name)
    _shape(x, (batch, 2), name)
    active = x > 0
    both = (active[:, 0] & active[:, 1]).sum().item()
    assert both == 0, (f"{name}: both features are active in {both} samples; anticorrelated features are never "
                       "active together (choose one of the two, then draw its value)")
    share = active.any(dim=1).double().mean().item()
    assert abs(share - p) < SIGMAS * math.sqrt(p * (1 - p) / batch), (
        f"{name}: a share {share:.3f} of the samples has an active feature; expected p = {p}")
    first = active[:, 0].double().mean().item()
    assert abs(first - p / 2) < SIGMAS * math.sqrt(p / 2 * (1 - p / 2) / batch), (
        f"{name}: feature 0 is active in a share {first:.3f} of the samples; each member should be chosen "
        f"with probability 1/2, so p/2 = {p / 2}")
    for member in (0, 1):  # each member's values on their own: uniform on [0, 1], whatever chose the member
        values = x[:, member][active[:, member]]
        count = len(values)
        assert abs(values.mean().item() - 0.5) < SIGMAS * math.sqrt(1 / 12 / count), (
            f"{name}: feature {member}'s active values average {values.mean():.3f}; they should be uniform on "
            "[0, 1] (mean 0.5)")
        assert abs(values.var().item() - 1 / 12) < SIGMAS * math.sqrt(1 / 180 / count), (
            f"{name}: feature {member}'s active values have variance {values.var():.4f}; values uniform on "
            "[0, 1] have 1/12 = 0.0833 (draw each value from its own uniform number)")
        low = (values < 0.5).double().mean().item()
        assert abs(low - 0.5) < SIGMAS * math.sqrt(0.25 / count), (
            f"{name}: {low:.0%} of feature {member}'s active values lie below 0.5; uniform on [0, 1] puts half "
            "there (use separate random numbers for which member and for its value)")
    _passed(name, f"p = {p}, {batch:,} samples")


def check_pair_cosine(answer: Callable) -> None:
    """pair_cosine(W, i, j): the cosine of the angle between columns W_i and W_j."""
    name = "pair_cosine"
    W, _, _ = _random_model(13, m=3, n=5)
    unit, rows = W / W.norm(dim=0), W / W.norm(dim=1, keepdim=True)
    for i, j in [(0, 1), (1, 2), (2, 4)]:
        hints = [(W[:, i] @ W[:, j], "divide the dot product by both lengths |W_i| |W_j|")]
        if j < W.shape[0]:
            hints.append((rows[i] @ rows[j], "features are the *columns* of W (W[:, i]), not its rows"))
        _close(_tensor(answer(W.clone(), i, j), name), unit[:, i] @ unit[:, j], name, hints, "cosine")
    _passed(name, "3 pairs of columns of a random W")


# ---------------------------------------------------------------- chapter 4


def check_attack_direction(answer: Callable) -> None:
    """attack_direction(W, i): (W^T W)_i / ||(W^T W)_i||, an n-vector."""
    name = "attack_direction"
    W, _, _ = _random_model(17, m=3, n=6)
    gram = W.T @ W
    for i in (0, 2, 5):
        try:
            out = answer(W.clone(), i)
        except NotImplementedError:
            raise
        except RuntimeError as exc:
            raise AssertionError(f"{name}: {exc}; W^T W is (n, n) = W.T @ W, and row i of it is an n-vector") from exc
        _close(out, gram[i] / gram[i].norm(), name, [
            (gram[i], "scale the row to length 1 (divide by its norm): the attack's size is set separately"),
            (gram[i] / gram[i].sum(), "divide by the row's length (its L2 norm), not the sum of its entries"),
            (gram[i] / gram[i].abs().sum(), "divide by the row's length (its L2 norm), not the sum of its entries"),
        ], "direction")
    _passed(name, "3 features of a random W of 6 features in 3 dimensions")


def check_pgd_step(answer: Callable) -> None:
    """pgd_step(delta, grad, epsilon, step): per sample (last axis), delta + step grad/|grad|, then into the ball."""
    name = "pgd_step"
    g = torch.Generator().manual_seed(19)
    delta = torch.randn(2, 40, 5, generator=g, dtype=torch.float64) * 0.03
    grad = torch.randn(2, 40, 5, generator=g, dtype=torch.float64)
    epsilon, step = 0.05, 0.02
    moved = delta + step * grad / grad.norm(dim=-1, keepdim=True)
    norms = moved.norm(dim=-1, keepdim=True)
    reference = moved * (epsilon / norms).clamp(max=1.0)
    def into_ball(d):
        return d * (epsilon / d.norm(dim=-1, keepdim=True)).clamp(max=1.0)

    _close(answer(delta.clone(), grad.clone(), epsilon, step), reference, name, [
        (moved, "project back into the ball: a perturbation longer than epsilon must be scaled down to epsilon"),
        (moved * epsilon / norms, "only perturbations *longer* than epsilon are scaled: shorter ones stay as they are"),
        (into_ball(delta + step * grad),
         "step along the *normalized* gradient grad / |grad| (one norm per sample, over the last axis)"),
        (into_ball(delta + step * grad / grad.norm()),
         "normalize each sample's gradient on its own (dim=-1), not the whole tensor"),
    ], "perturbation")
    _passed(name, "80 samples, 5 features")


def check_effective_features(answer: Callable) -> None:
    """effective_features(weights) = exp(-sum p log p), p = weights / weights.sum()."""
    name = "effective_features"
    cases = [torch.ones(4, dtype=torch.float64), torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64),
             torch.tensor([3.0, 1.0, 1.0, 0.5, 0.0], dtype=torch.float64)]
    for weights in cases:
        p = weights / weights.sum()
        entropy = -(p * p.clamp_min(1e-300).log()).sum()
        raw = -(weights * weights.clamp_min(1e-300).log()).sum()
        out = _tensor(answer(weights.clone()), name)
        if torch.isnan(out).any() and (weights == 0).any():
            raise AssertionError(f"{name}: NaN for the weights {weights.tolist()}: a zero share gives 0 * log 0, "
                                 "which torch computes as NaN; its term of the entropy is 0 (leave zero shares out, "
                                 "or clamp p away from 0 inside the log)")
        _close(out, entropy.exp(), name, [
            (entropy, "that is the entropy H; the number of effective features is exp(H)"),
            ((-(p * torch.log2(p.clamp_min(1e-300))).sum()).exp(),
             "the entropy and the exponential must use one base: exp of a natural-log entropy (or 2 ** a log2 one)"),
            (raw.exp(), "normalize the weights to shares p_i = w_i / sum_j w_j first"),
            (torch.tensor(float((weights > 0).sum()), dtype=torch.float64),
             "count with the entropy, not the non-zero weights: unequal weights count for less"),
        ], "count")
    _passed(name, "equal, single and unequal weights, zeros included")


# ---------------------------------------------------------------- chapter 5


def check_neuron_model(answer: Callable) -> None:
    """neuron_model(W, b, x) = ReLU(ReLU(x W^T) W + b), for a batch x of shape (batch, n)."""
    name = "neuron_model"
    for seed in range(3):
        W, b, x = _random_model(23 + seed, m=3, n=6)
        try:
            out = answer(W.clone(), b.clone(), x.clone())
        except NotImplementedError:
            raise
        except RuntimeError as exc:
            raise AssertionError(f"{name}: {exc}; with a batch of rows, the neurons are h = ReLU(x @ W.T) "
                                 "(batch, m) and the output ReLU(h @ W + b) (batch, n)") from exc
        h = torch.relu(x @ W.T)
        _close(out, torch.relu(h @ W + b), name, [
            (torch.relu(x @ W.T @ W + b), "the hidden layer needs its own ReLU: h = ReLU(W x). Without it this "
             "is chapter 1's model, whose hidden dimensions are not neurons"),
            (h @ W + b, "did you forget the output ReLU?"),
            (torch.relu(h @ W), "did you forget the bias b?"),
        ], "output")
    _passed(name, "3 random models of 6 features and 3 neurons, batch of 64")


def check_signed_features(answer: Callable) -> None:
    """signed_features(n_features, p, batch, generator): active with probability p, then uniform on [-1, 1]."""
    name = "signed_features"
    n, batch = 20, 20_000
    for p in (0.1, 0.7):
        x = _tensor(answer(n, p, batch, torch.Generator().manual_seed(5)), name)
        _shape(x, (batch, n), name)
        assert ((x >= -1) & (x <= 1)).all(), f"{name}: values must lie in [-1, 1]; got {x.min():.3g} to {x.max():.3g}"
        active = x != 0
        _check_active_share(name, active, p, word="non-zero")
        values = x[active]
        assert (values < 0).any(), (f"{name}: no active feature is negative; for the absolute-value task an active "
                                    "feature is uniform on [-1, 1], of either sign")
        mean_spread = SIGMAS * math.sqrt(1 / 3 / len(values))
        assert abs(values.mean().item()) < mean_spread, (
            f"{name}: active values average {values.mean():.3f}; values uniform on [-1, 1] average 0 "
            "(2 u - 1 maps u in [0, 1] onto [-1, 1])")
        size = values.abs().mean().item()
        assert abs(size - 0.5) < SIGMAS * math.sqrt(1 / 12 / len(values)), (
            f"{name}: active values have mean size |x| = {size:.3f}; uniform on [-1, 1] gives 0.5")
    _check_uses_generator(answer, name, n)
    _passed(name, "p = 0.1 and 0.7, 400,000 entries each")


def check_monosemantic(answer: Callable) -> None:
    """monosemantic(W, threshold): (m,) bools, True where a neuron (row) has exactly one responding feature."""
    name = "monosemantic"
    W = torch.tensor([
        [1.0, 0.1, 0.0, -0.9, 0.0],   # one feature; a large negative weight cannot make it fire
        [0.9, 0.5, 0.0, 0.0, 0.0],    # two features
        [0.2, 0.08, 0.0, 0.0, 0.0],   # small weights, two features relative to its largest
        [0.0, 0.0, 0.03, 0.0, 0.0],   # one faint feature: still relative to its own largest
        [-0.5, -0.7, 0.0, 0.0, 0.0],  # never fires on non-negative features: responds to none
        [0.0, 0.0, 0.0, 0.0, 1.2],    # one feature
        [-0.9, 0.0, 0.0, 0.0, 0.6],   # one feature beside a larger negative weight
    ], dtype=torch.float64)
    threshold = 0.25
    positive = W.clamp_min(0)
    largest = positive.max(dim=1, keepdim=True).values
    counts = ((positive >= threshold * largest) & (largest > 0)).sum(dim=1)
    reference = counts == 1
    out = torch.as_tensor(answer(W.clone(), threshold))
    if tuple(out.shape) == (W.shape[1],):
        raise AssertionError(f"{name}: returned one value per column; neurons are the *rows* of W (W[j] holds "
                             "neuron j's input weights), so return one value per row")
    _shape(out, (W.shape[0],), name)
    out = out.bool()
    if torch.equal(out, reference):
        _passed(name, "7 neurons, among them two with a large negative weight, a faint one and a silent one")
        return
    absolute = W.abs()
    by_abs = (absolute >= threshold * absolute.max(dim=1, keepdim=True).values).sum(dim=1) == 1
    fixed = ((W >= threshold) & (W > 0)).sum(dim=1) == 1
    every_positive = (W > 0).sum(dim=1) == 1
    hints = [
        (every_positive, "a neuron responds to a feature only where the weight is at least threshold x the "
                         "neuron's largest positive weight; small positive weights do not count"),
        (by_abs, "a negative weight cannot make a neuron fire on features that are never negative: count only "
                 "positive weights"),
        (fixed, "compare each weight with the neuron's own largest weight (threshold x the largest), not with "
                "threshold itself"),
    ]
    for wrong, hint in hints:
        if torch.equal(out, wrong):
            raise AssertionError(f"{name}: {hint}")
    wrong_rows = (out != reference).nonzero().squeeze(1).tolist()
    raise AssertionError(f"{name}: wrong answer for neurons {wrong_rows} (weights {W[wrong_rows].tolist()})")


# ---------------------------------------------------------------- chapter 6


def _random_sae(seed: int, d_in: int = 3, d_sae: int = 5, batch: int = 32):
    g = torch.Generator().manual_seed(seed)
    W_enc = torch.randn(d_in, d_sae, generator=g, dtype=torch.float64)
    b_enc = torch.randn(d_sae, generator=g, dtype=torch.float64) * 0.3
    W_dec = torch.randn(d_sae, d_in, generator=g, dtype=torch.float64)  # rows of unequal norm on purpose
    b_dec = torch.randn(d_in, generator=g, dtype=torch.float64) * 0.3
    x = torch.randn(batch, d_in, generator=g, dtype=torch.float64)
    return x, W_enc, b_enc, W_dec, b_dec


def check_sae_loss(answer: Callable) -> None:
    """sae_loss(x, W_enc, b_enc, W_dec, b_dec, l1): mean over the batch of |x - x_hat|^2 + l1 sum_j f_j |W_dec[j]|."""
    name = "sae_loss"
    l1 = 0.3
    for seed in range(3):
        x, W_enc, b_enc, W_dec, b_dec = _random_sae(40 + seed)
        args = [t.clone() for t in (x, W_enc, b_enc, W_dec, b_dec)]
        try:
            out = answer(*args, l1)
        except NotImplementedError:
            raise
        except RuntimeError as exc:
            raise AssertionError(f"{name}: {exc}; with a batch of rows, f = ReLU((x - b_dec) @ W_enc + b_enc) is "
                                 "(batch, d_sae) and x_hat = f @ W_dec + b_dec is (batch, d_in)") from exc
        norms = W_dec.norm(dim=1)

        def loss(f, x_hat, penalty_norms=norms, mean_error=False):
            error = ((x - x_hat) ** 2).mean(dim=1) if mean_error else ((x - x_hat) ** 2).sum(dim=1)
            return (error + l1 * (f.abs() * penalty_norms).sum(dim=1)).mean()

        f = torch.relu((x - b_dec) @ W_enc + b_enc)
        no_shift = torch.relu(x @ W_enc + b_enc)
        linear = (x - b_dec) @ W_enc + b_enc
        _close(out, loss(f, f @ W_dec + b_dec), name, [
            (loss(no_shift, no_shift @ W_dec + b_dec), "subtract b_dec from x before encoding: the encoder reads "
             "x - b_dec, so that b_dec is the SAE's origin"),
            (loss(linear, linear @ W_dec + b_dec), "did you forget the ReLU on the latents? f = ReLU(...)"),
            (loss(f, f @ W_dec), "did you forget to add b_dec back in the decoder?"),
            (loss(f, f @ W_dec + b_dec, penalty_norms=torch.ones_like(norms)),
             "weight each latent's L1 term by the norm of its decoder row, |W_dec[j]|: otherwise the SAE can shrink "
             "f and grow W_dec to dodge the penalty"),
            (loss(f, f @ W_dec + b_dec, mean_error=True), "sum the squared error over the d_in coordinates (then "
             "average over the batch), don't average it"),
            (((x - f @ W_dec - b_dec) ** 2).sum(dim=1).mean(), "add the sparsity penalty l1_coefficient x the "
             "decoder-weighted sum of the latents"),
        ], "loss")
    _passed(name, "3 random SAEs of 3 inputs and 5 latents, decoder rows of unequal norm, batch of 32")


def check_mmcs(answer: Callable) -> None:
    """mmcs(W_dec, W): mean over columns i of W of max over rows j of W_dec of cos(W_i, W_dec[j])."""
    name = "mmcs"
    g = torch.Generator().manual_seed(61)
    W = torch.randn(3, 6, generator=g, dtype=torch.float64) * torch.tensor([0.5, 1.0, 2.0, 1.5, 0.7, 1.2],
                                                                            dtype=torch.float64)
    unit = W / W.norm(dim=0)
    # 8 latents: four near true features (some scaled), one pointing against a feature, three random
    W_dec = torch.cat([unit[:, :4].T * torch.tensor([[1.0], [2.0], [0.5], [1.0]], dtype=torch.float64)
                       + 0.1 * torch.randn(4, 3, generator=g, dtype=torch.float64),
                       -unit[:, 4:5].T, torch.randn(3, 3, generator=g, dtype=torch.float64)])
    out = _tensor(answer(W_dec.clone(), W.clone()), name)
    rows = W_dec / W_dec.norm(dim=1, keepdim=True)
    cos = unit.T @ rows.T  # (n, d_sae)
    _close(out.reshape(()) if out.numel() == 1 else out, cos.max(dim=1).values.mean(), name, [
        (cos.max(dim=0).values.mean(), "average over the true features (columns of W), each taking its best "
         "latent; you averaged over the latents instead"),
        (cos.abs().max(dim=1).values.mean(), "use the signed cosine: a latent is non-negative, so a decoder row "
         "pointing against a feature cannot write it"),
        ((W.T @ W_dec.T).max(dim=1).values.mean(), "normalize both: cosines, not dot products"),
        ((unit.T @ W_dec.T).max(dim=1).values.mean(), "normalize the decoder rows too"),
        ((W.T @ rows.T).max(dim=1).values.mean(), "normalize the true features (columns of W) too"),
    ], "value")
    _passed(name, "6 features in 3 dimensions, 8 latents of unequal length, one pointing against a feature")


def check_jumprelu(answer: Callable) -> None:
    """jumprelu(z, threshold): z where z > threshold (per latent, the last axis), else 0."""
    name = "jumprelu"
    g = torch.Generator().manual_seed(71)
    z = torch.randn(40, 6, generator=g, dtype=torch.float64)
    threshold = torch.tensor([0.1, 0.3, 0.5, 0.2, 1.0, 0.05], dtype=torch.float64)
    out = answer(z.clone(), threshold.clone())
    above = z > threshold
    _close(out, z * above, name, [
        (torch.relu(z - threshold), "that is a ReLU shifted by the threshold: it subtracts theta from every "
         "activation that passes, the shrinkage JumpReLU exists to avoid. Pass z itself where z > theta"),
        (above.double(), "return the activation z where it passes, not 1"),
        (torch.relu(z), "compare with the threshold, not with 0"),
        (z * (z.abs() > threshold), "a negative z never passes: compare z itself, not |z|"),
    ], "activations")
    _passed(name, "40 samples of 6 latents, thresholds from 0.05 to 1")


# ---------------------------------------------------------------- chapter 7


def check_orthogonal_readout(answer: Callable) -> None:
    """orthogonal_readout(h, x): R (m, n), orthonormal columns, minimizing |h R - x| (Procrustes)."""
    name = "orthogonal_readout"
    g = torch.Generator().manual_seed(81)
    Q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
    x = torch.rand(200, 3, generator=g, dtype=torch.float64)
    h = torch.cat([x, torch.zeros(200, 2, dtype=torch.float64)], dim=1) @ Q.T  # features rotated into 5 neurons
    h = h + 0.01 * torch.randn(200, 5, generator=g, dtype=torch.float64)
    out = _tensor(answer(h.clone(), x.clone()), name)
    if tuple(out.shape) == (3, 5):
        raise AssertionError(f"{name}: returned shape (n, m) = (3, 5); R maps activations (m = 5) to features "
                             "(n = 3), so h @ R needs R of shape (m, n) = (5, 3)")
    _shape(out, (5, 3), name)
    U, _, Vh = torch.linalg.svd(h.T @ x, full_matrices=False)
    reference = U @ Vh
    least_squares = torch.linalg.lstsq(h, x).solution
    _close(out, reference, name, [
        (least_squares, "that is the least-squares map, which may stretch and shear; the readout must be a "
         "rotation: R = U V^T from the SVD of h^T x"),
        (U, "R = U V^T: multiply by V^T (the third output of torch.linalg.svd)"),
    ], "R")
    _passed(name, "3 features rotated into 5 neurons with a little noise, 200 samples")


def check_fires_on(answer: Callable) -> None:
    """fires_on(W1, b1, inputs): (items, m) bools, W1 x + b1 > 0 for each input row x."""
    name = "fires_on"
    g = torch.Generator().manual_seed(91)
    W1, b1 = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    inputs = (torch.rand(16, 4, generator=g) < 0.5).double()  # 16 binary items
    out = torch.as_tensor(answer(W1.clone(), b1.clone(), inputs.clone()))
    if tuple(out.shape) == (6, 16):
        raise AssertionError(f"{name}: returned (neurons, items); return one row per input item: shape (16, 6)")
    _shape(out, (16, 6), name)
    out = out.bool()
    pre = inputs @ W1.T + b1
    if torch.equal(out, pre > 0):
        _passed(name, "6 neurons of 4 inputs on 16 binary items")
        return
    for wrong, hint in ((inputs @ W1.T > 0, "add the bias b1 before comparing with 0"),
                        (pre >= 0, "a neuron fires when its pre-activation is positive (> 0), not >= 0"),
                        (inputs @ W1.T - b1 > 0, "add b1; don't subtract it")):
        if torch.equal(out, wrong):
            raise AssertionError(f"{name}: {hint}")
    raise AssertionError(f"{name}: wrong neurons for {int((out != (pre > 0)).sum())} of 96 (item, neuron) pairs")


def check_expected_shared_neurons(answer: Callable) -> None:
    """expected_shared_neurons(n, m) = m (1 - (1 - 1/m)^n - (n/m)(1 - 1/m)^(n-1))."""
    name = "expected_shared_neurons"
    cases = [(8, 16), (8, 8), (2, 4), (1, 5), (30, 10)]
    for n, m in cases:
        q = 1 / m
        reference = m * (1 - (1 - q) ** n - n * q * (1 - q) ** (n - 1))
        out = _tensor(answer(n, m), name)
        pairs = n * (n - 1) / 2 / m
        one_minus_empty = m * (1 - (1 - q) ** n)
        _close(out, torch.tensor(reference, dtype=torch.float64), name, [
            (torch.tensor(pairs, dtype=torch.float64), "that counts colliding *pairs* of features (n choose 2) / m, "
             "not neurons chosen two or more times; from each neuron's count: 1 - P(0 choose it) - P(exactly 1)"),
            (torch.tensor(one_minus_empty, dtype=torch.float64), "that counts neurons chosen at least once; subtract "
             "those chosen exactly once, n (1/m) (1 - 1/m)^(n-1) each"),
        ], f"value at n = {n}, m = {m}")
    _passed(name, f"{len(cases)} pairs (n, m), from 1 feature in 5 neurons to 30 features in 10")


class _AnswerRaised(Exception):
    """Marks an exception raised inside the student's function (not by the checker)."""


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).strip().splitlines() if line.strip())


def _guarded(name: str, checker: Callable[[Callable], None]) -> Callable[[Callable], None]:
    """checker, with every way an answer can break told in one line that starts with the exercise's name.

    Not a function: said so. The function raised: its exception's type and message (a stub's
    NotImplementedError passes through, its message is the hint). A checker's own verdict
    (AssertionError) is kept, on one line. Anything else the check could not use: said so.
    """
    def run(answer: Callable) -> None:
        if not callable(answer):
            raise AssertionError(f"{name}: {answer!r:.40} (a {type(answer).__name__}) is not a function; pass the "
                                 f"function {name} itself")
        returned_nan = []

        def call(*args, **kwargs):
            try:
                out = answer(*args, **kwargs)
            except NotImplementedError:
                raise
            except Exception as exc:  # tagged, so that the checker's hints still see the original type
                exc.__dict__.setdefault("_tms_from_answer", True)
                raise
            try:
                if torch.isnan(torch.as_tensor(out, dtype=torch.float64)).any():
                    returned_nan.append(True)
            except (TypeError, ValueError, RuntimeError):
                pass
            return out

        try:
            checker(call)
        except NotImplementedError:
            raise
        except AssertionError as exc:
            message = _one_line(exc)
            message = message if message.startswith(f"{name}:") else f"{name}: {message}"
            if returned_nan and "NaN" not in message and "0 log 0" not in message:
                message += " (your function returned NaN somewhere: look for a division by zero or the log of 0)"
            raise AssertionError(message) from None
        except Exception as exc:
            what = f"{type(exc).__name__}: {_one_line(exc)}".rstrip(": ")
            if getattr(exc, "_tms_from_answer", False):
                raise AssertionError(f"{name}: your function raised {what}") from exc
            raise AssertionError(f"{name}: the check could not use what your function returned ({what})") from exc

    run.__name__, run.__doc__ = checker.__name__, checker.__doc__
    return run


for _chapter in EXERCISES.values():
    for _exercise, _, _ in _chapter:
        globals()[f"check_{_exercise}"] = _guarded(_exercise, globals()[f"check_{_exercise}"])

CHECKERS: Dict[str, Callable[[Callable], None]] = {
    exercise: globals()[f"check_{exercise}"] for chapter in EXERCISES.values() for exercise, _, _ in chapter
}
