"""exercises: every checker passes the library's own answer and fails a typical wrong one with its lesson."""

import math
import re

import pytest
import torch

from tms_tutorial import exercises, metrics


# ---- answers as a student would write them: the right one for every exercise

def sample_features(n_features, p, batch, generator):
    active = torch.rand(batch, n_features, generator=generator) < p
    return active * torch.rand(batch, n_features, generator=generator)


def relu_model(W, b, x):
    return torch.relu(x @ W.T @ W + b)


def importance_loss(x, x_hat, importance):
    return (importance * (x - x_hat) ** 2).sum(dim=1).mean()


def feature_dimensionality(W):
    norms = W.norm(dim=0)
    unit = W / norms.clamp_min(1e-12)
    return torch.where(norms > 0, norms**2 / ((unit.T @ W) ** 2).sum(dim=1).clamp_min(1e-12), torch.zeros_like(norms))


def dropped_loss(p, importance):
    return importance * (p / 3 - p**2 / 4)


def antipodal_loss(p, importance_1, importance_2):
    return p**2 * (importance_1 + importance_2) / 6


def boundary_density(r):
    low = min(1.0, r)
    return 4 * low / (2 * (1 + r) + 3 * low)


def relu_square_mean(a, c):
    safe = torch.where(a == 0, torch.ones_like(a), a)
    root = (-c / safe).clamp(0, 1)
    s = torch.where(a > 0, root, torch.zeros_like(a))
    t = torch.where(a > 0, torch.ones_like(a), root)
    s = torch.where(a == 0, torch.zeros_like(a), s)
    t = torch.where(a == 0, (c > 0).to(a.dtype), t)
    return a * a * (t**3 - s**3) / 3 + a * c * (t**2 - s**2) + c * c * (t - s)


def dimensions_per_feature(W):
    return W.shape[0] / (W**2).sum()


def name_polytope(D):
    levels = {k: v for k, v in metrics.POLYTOPE_DIMENSIONALITY.items() if k != "not learned"}
    best = min(levels, key=lambda k: abs(levels[k] - D))
    return best if abs(levels[best] - D) <= 0.05 else "other"


def anticorrelated_pair(p, batch, generator):
    active = torch.rand(batch, generator=generator) < p
    which = torch.randint(0, 2, (batch,), generator=generator)
    x = torch.zeros(batch, 2)
    x[torch.arange(batch), which] = active * torch.rand(batch, generator=generator)
    return x


def pair_cosine(W, i, j):
    return (W[:, i] @ W[:, j]) / (W[:, i].norm() * W[:, j].norm())


def attack_direction(W, i):
    row = (W.T @ W)[i]
    return row / row.norm()


def pgd_step(delta, grad, epsilon, step):
    moved = delta + step * grad / grad.norm(dim=-1, keepdim=True)
    return moved * (epsilon / moved.norm(dim=-1, keepdim=True)).clamp(max=1.0)


def effective_features(weights):
    p = weights / weights.sum()
    return torch.exp(-(p * torch.log(p.clamp_min(1e-300))).sum())


def neuron_model(W, b, x):
    h = torch.relu(x @ W.T)
    return torch.relu(h @ W + b)


def signed_features(n_features, p, batch, generator):
    active = torch.rand(batch, n_features, generator=generator) < p
    return active * (2 * torch.rand(batch, n_features, generator=generator) - 1)


def monosemantic(W, threshold):
    positive = W.clamp_min(0)
    largest = positive.max(dim=1, keepdim=True).values
    return ((positive >= threshold * largest) & (largest > 0)).sum(dim=1) == 1


def sae_loss(x, W_enc, b_enc, W_dec, b_dec, l1_coefficient):
    f = torch.relu((x - b_dec) @ W_enc + b_enc)
    x_hat = f @ W_dec + b_dec
    penalty = (f * W_dec.norm(dim=1)).sum(dim=1)
    return (((x - x_hat) ** 2).sum(dim=1) + l1_coefficient * penalty).mean()


def mmcs(W_dec, W):
    cos = (W / W.norm(dim=0)).T @ (W_dec / W_dec.norm(dim=1, keepdim=True)).T
    return cos.max(dim=1).values.mean()


def jumprelu(z, threshold):
    return z * (z > threshold)


def orthogonal_readout(h, x):
    U, _, Vh = torch.linalg.svd(h.T @ x, full_matrices=False)
    return U @ Vh


def fires_on(W1, b1, inputs):
    return inputs @ W1.T + b1 > 0


def expected_shared_neurons(n, m):
    q = 1 / m
    return m * (1 - (1 - q) ** n - n * q * (1 - q) ** (n - 1))


RIGHT = {name: globals()[name] for name in exercises.CHECKERS}

# ---- typical wrong answers, and a phrase of the lesson each must get
WRONG = [
    ("sample_features", lambda n, p, b, g: (torch.rand(b, n, generator=g) > p) * torch.rand(b, n, generator=g),
     "below"),
    ("sample_features", lambda n, p, b, g: (torch.rand(b, n, generator=g) < p).double(), "uniformly"),
    ("sample_features", lambda n, p, b, g: (torch.rand(b, n) < p) * torch.rand(b, n), "generator"),
    ("relu_model", lambda W, b, x: x @ W.T @ W + b, "ReLU"),
    ("relu_model", lambda W, b, x: torch.relu(x @ W.T @ W), "bias"),
    ("relu_model", lambda W, b, x: torch.relu(x @ W @ W.T + b), "W.T @ W"),
    ("importance_loss", lambda x, y, imp: ((x - y) ** 2).sum(dim=1).mean(), "importance"),
    ("importance_loss", lambda x, y, imp: (imp * (x - y) ** 2).mean(), "sum over the features"),
    ("feature_dimensionality", lambda W: (W.norm(dim=0) ** 2 / ((W.T @ W) ** 2).sum(dim=1)).nan_to_num(0.0), "unit"),
    ("feature_dimensionality", lambda W: W.norm(dim=0) ** 2 / (((W / W.norm(dim=0)).T @ W) ** 2).sum(dim=1), "NaN"),
    ("dropped_loss", lambda p, imp: imp * p / 3, "variance"),
    ("dropped_loss", lambda p, imp: p / 3 - p**2 / 4, "importance"),
    ("antipodal_loss", lambda p, i1, i2: p * (i1 + i2) / 6, "p^2"),
    ("antipodal_loss", lambda p, i1, i2: p**2 * (i1 + i2) / 3, "1/6"),
    ("boundary_density", lambda r: 4 * r / (2 * (1 + r) + 3 * r), "min(1, r)"),
    ("relu_square_mean", lambda a, c: a * a / 3 + a * c + c * c, "ReLU is zero"),
    ("relu_square_mean", lambda a, c: (torch.relu(a + c) ** 3 - torch.relu(c) ** 3) / (3 * a), "a = 0"),
    ("dimensions_per_feature", lambda W: W.shape[1] / (W**2).sum(), "m (the hidden size"),
    ("dimensions_per_feature", lambda W: W.shape[0] / W.norm(), "square"),
    ("name_polytope", lambda D: min(metrics.POLYTOPE_DIMENSIONALITY,
                                    key=lambda k: abs(metrics.POLYTOPE_DIMENSIONALITY[k] - D)), "'other'"),
    ("anticorrelated_pair", lambda p, b, g: sample_features(2, p, b, g), "never active together"),
    ("anticorrelated_pair", lambda p, b, g: torch.stack([sample_features(1, p, b, g)[:, 0], torch.zeros(b)], dim=1),
     "1/2"),  # always the first member
    ("pair_cosine", lambda W, i, j: W[:, i] @ W[:, j], "lengths"),
    ("pair_cosine", lambda W, i, j: (W[i] @ W[j]) / (W[i].norm() * W[j].norm()), "columns"),
    ("attack_direction", lambda W, i: (W.T @ W)[i], "length 1"),
    ("attack_direction", lambda W, i: W[:, i] / W[:, i].norm(), "shape"),
    ("attack_direction", lambda W, i: (W.T @ W)[i] / (W.T @ W)[i].sum(), "L2 norm"),
    ("pgd_step", lambda d, g, e, s: d + s * g / g.norm(dim=-1, keepdim=True), "project back"),
    ("pgd_step", lambda d, g, e, s: (d + s * g / g.norm(dim=-1, keepdim=True)) * e
     / (d + s * g / g.norm(dim=-1, keepdim=True)).norm(dim=-1, keepdim=True), "longer"),
    ("pgd_step", lambda d, g, e, s: (d + s * g) * (e / (d + s * g).norm(dim=-1, keepdim=True)).clamp(max=1.0),
     "normalized"),
    ("effective_features", lambda w: -(w / w.sum() * torch.log((w / w.sum()).clamp_min(1e-300))).sum(), "exp(H)"),
    ("effective_features", lambda w: torch.tensor(float((w > 0).sum())), "non-zero"),
    ("effective_features", lambda w: torch.exp(-(w / w.sum() * torch.log(w / w.sum())).sum()), "0 * log 0"),
    ("effective_features", lambda w: torch.exp(-(w / w.sum() * torch.log2((w / w.sum()).clamp_min(1e-300))).sum()),
     "one base"),
    ("neuron_model", lambda W, b, x: torch.relu(x @ W.T @ W + b), "its own ReLU"),
    ("neuron_model", lambda W, b, x: torch.relu(x @ W.T) @ W + b, "output ReLU"),
    ("neuron_model", lambda W, b, x: torch.relu(torch.relu(x @ W.T) @ W), "bias"),
    ("neuron_model", lambda W, b, x: torch.relu(torch.relu(x @ W) @ W.T + b), "x @ W.T"),
    ("signed_features", lambda n, p, b, g: sample_features(n, p, b, g), "either sign"),
    ("signed_features", lambda n, p, b, g: (torch.rand(b, n, generator=g) > p)
     * (2 * torch.rand(b, n, generator=g) - 1), "below"),
    ("signed_features", lambda n, p, b, g: (torch.rand(b, n, generator=g) < p)
     * (torch.rand(b, n, generator=g) - 0.5) * 2 * torch.rand(b, n, generator=g).mean(), "0.5"),
    ("signed_features", lambda n, p, b, g: (torch.rand(b, n) < p) * (2 * torch.rand(b, n) - 1), "generator"),
    ("monosemantic", lambda W, t: (W.abs() >= t * W.abs().max(dim=1, keepdim=True).values).sum(dim=1) == 1,
     "positive weights"),
    ("monosemantic", lambda W, t: (W >= t).sum(dim=1) == 1, "own largest"),
    ("monosemantic", lambda W, t: (W > 0).sum(dim=1) == 1, "small positive weights do not count"),
    ("monosemantic", lambda W, t: (W.clamp_min(0) >= t * W.clamp_min(0).max(dim=0, keepdim=True).values)
     .sum(dim=0) == 1, "rows"),
    ("sae_loss", lambda *a: _sae_variant(*a, shift=False), "subtract b_dec"),
    ("sae_loss", lambda *a: _sae_variant(*a, relu=False), "ReLU"),
    ("sae_loss", lambda *a: _sae_variant(*a, add_back=False), "add b_dec back"),
    ("sae_loss", lambda *a: _sae_variant(*a, weighted=False), "norm of its decoder row"),
    ("sae_loss", lambda *a: _sae_variant(*a, mean_error=True), "sum the squared error"),
    ("sae_loss", lambda *a: _sae_variant(*a[:-1], 0.0), "sparsity penalty"),
    ("sae_loss", lambda x, We, be, Wd, bd, l1: _sae_variant(x, We.T, be, Wd, bd, l1), "(batch, d_sae)"),
    ("mmcs", lambda Wd, W: ((W / W.norm(dim=0)).T @ (Wd / Wd.norm(dim=1, keepdim=True)).T).max(dim=0).values.mean(),
     "averaged over the latents"),
    ("mmcs", lambda Wd, W: ((W / W.norm(dim=0)).T @ (Wd / Wd.norm(dim=1, keepdim=True)).T).abs().max(dim=1)
     .values.mean(), "signed cosine"),
    ("mmcs", lambda Wd, W: (W.T @ Wd.T).max(dim=1).values.mean(), "dot products"),
    ("mmcs", lambda Wd, W: ((W / W.norm(dim=0)).T @ Wd.T).max(dim=1).values.mean(), "decoder rows too"),
    ("jumprelu", lambda z, t: torch.relu(z - t), "shifted by the threshold"),
    ("jumprelu", lambda z, t: (z > t).double(), "not 1"),
    ("jumprelu", lambda z, t: torch.relu(z), "not with 0"),
    ("jumprelu", lambda z, t: z * (z.abs() > t), "not |z|"),
    ("orthogonal_readout", lambda h, x: torch.linalg.lstsq(h, x).solution, "least-squares"),
    ("orthogonal_readout", lambda h, x: orthogonal_readout(h, x).T, "shape (m, n)"),
    ("orthogonal_readout", lambda h, x: torch.linalg.svd(h.T @ x, full_matrices=False)[0], "V^T"),
    ("fires_on", lambda W, b, X: X @ W.T > 0, "bias"),
    ("fires_on", lambda W, b, X: (X @ W.T + b > 0).T, "one row per input"),
    ("fires_on", lambda W, b, X: X @ W.T - b > 0, "don't subtract"),
    ("expected_shared_neurons", lambda n, m: n * (n - 1) / 2 / m, "pairs"),
    ("expected_shared_neurons", lambda n, m: m * (1 - (1 - 1 / m) ** n), "exactly once"),
]


def _sae_variant(x, W_enc, b_enc, W_dec, b_dec, l1, shift=True, relu=True, add_back=True, weighted=True,
                 mean_error=False):
    pre = (x - b_dec if shift else x) @ W_enc + b_enc
    f = torch.relu(pre) if relu else pre
    x_hat = f @ W_dec + (b_dec if add_back else 0)
    error = ((x - x_hat) ** 2).mean(dim=1) if mean_error else ((x - x_hat) ** 2).sum(dim=1)
    norms = W_dec.norm(dim=1) if weighted else torch.ones(W_dec.shape[0], dtype=W_dec.dtype)
    return (error + l1 * (f.abs() * norms).sum(dim=1)).mean()


@pytest.mark.parametrize("name", list(exercises.CHECKERS))
def test_every_checker_passes_the_right_answer(name, capsys):
    exercises.CHECKERS[name](RIGHT[name])
    assert capsys.readouterr().out.startswith(f"\u2713 {name}: correct")


@pytest.mark.parametrize("name, wrong, lesson", WRONG, ids=[f"{n}-{k}" for k, (n, _, _) in enumerate(WRONG)])
def test_every_checker_fails_a_typical_wrong_answer_with_its_lesson(name, wrong, lesson):
    with pytest.raises(AssertionError, match=re.escape(lesson)):
        exercises.CHECKERS[name](wrong)


def test_every_exercise_has_a_wrong_answer_tested_and_chapters_one_to_three_have_four_each():
    assert {name for name, _, _ in WRONG} == set(exercises.CHECKERS)
    assert all(len(exercises.EXERCISES[chapter]) >= 4 for chapter in (1, 2, 3))


def test_the_statistical_checks_pass_right_answers_drawn_with_other_seeds():
    """Six standard errors leave a right answer about one chance in 1e8 per check of failing."""
    for offset in range(1, 6):
        def reseeded(answer, offset=offset):
            return lambda *args: answer(*args[:-1], torch.Generator().manual_seed(args[-1].initial_seed() + offset))
        exercises.check_sample_features(reseeded(sample_features))
        exercises.check_anticorrelated_pair(reseeded(anticorrelated_pair))
        exercises.check_signed_features(reseeded(signed_features))
    assert math.isclose(exercises.SIGMAS, 6.0)


def test_a_stub_not_filled_in_raises_its_own_not_implemented_error():
    def stub(*args):
        raise NotImplementedError("write it")

    for check in exercises.CHECKERS.values():
        with pytest.raises(NotImplementedError, match="write it"):
            check(stub)
