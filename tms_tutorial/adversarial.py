"""Adversarial examples against toy models (the paper's section "Superposition and Adversarial Robustness").

For the ReLU output model x' = ReLU(W^T W x + b), a perturbation delta of the input moves
output i's pre-activation by (W^T W)_i . delta. Among all perturbations of norm epsilon,
delta = epsilon (W^T W)_i / ||(W^T W)_i|| moves it most. The paper's attack tries this
direction for every feature i and keeps the one that does the most damage; its size is a
fixed fraction (0.1 in the paper) of the mean norm of the inputs. With superposition the
rows of W^T W have many large entries, so one small push raises many outputs at once.

Here "the most damage" is decided per input: each sample gets the direction that raises
its own loss most (the importance-weighted squared error against the clean target). A
gradient attack of the same norm (projected gradient ascent, per sample) checks how close
to optimal the analytic directions are. Everything works on any model with ``W``
(n_instances, m, n) and ``forward``, batched over instances like the rest of the library.
"""

from __future__ import annotations

from typing import Tuple, Union

import torch

from ._checks import check_number, check_positive_int, check_seed, check_weights

Size = Union[float, torch.Tensor]
ATTACKS = ("analytic", "gradient", "refined")
MAX_ATTACK_ELEMENTS = 1 << 23  # the analytic attack evaluates this many perturbed outputs at once (32 MB)


def attack_directions(W) -> torch.Tensor:
    """Unit rows of W^T W: (n_instances, n, n); row i is feature i's attack direction in input space.

    A feature that is not represented (a zero row) gets the zero direction.
    """
    W = check_weights(W)
    gram = W.transpose(1, 2) @ W  # (I, n, n)
    norms = gram.norm(dim=2, keepdim=True)
    return torch.where(norms > 0, gram / norms.clamp_min(1e-30), torch.zeros_like(gram))


def sample_losses(model, x: torch.Tensor, target: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Each sample's loss sum_i I_i (target_i - output_i)^2: (n_instances, batch)."""
    _check_batch(model, x, target, importance)
    return ((target - model(x)) ** 2 * importance[:, None, :]).sum(dim=2)


def _sizes(epsilon: Size, n_instances: int) -> torch.Tensor:
    """epsilon as (n_instances, 1, 1): a number or one per instance, each >= 0."""
    eps = torch.as_tensor(epsilon, dtype=torch.float32)
    if eps.dim() == 0:
        eps = eps.expand(n_instances)
    if eps.shape != (n_instances,):
        raise ValueError(f"epsilon must be a number or have shape (n_instances,) = ({n_instances},); "
                         f"got {tuple(eps.shape)}")
    if not torch.isfinite(eps).all() or (eps < 0).any():
        raise ValueError(f"epsilon must be finite and >= 0; got values from {eps.min().item():g} "
                         f"to {eps.max().item():g}")
    return eps[:, None, None]


def _check_batch(model, x: torch.Tensor, target: torch.Tensor, importance: torch.Tensor) -> None:
    model.check_input(x)
    if target.shape != x.shape:
        raise ValueError(f"target must have the shape of x, {tuple(x.shape)}; got {tuple(target.shape)}")
    if importance.shape != (x.shape[0], x.shape[2]):
        raise ValueError(f"importance must have shape (n_instances, n_features) = {(x.shape[0], x.shape[2])}; "
                         f"got {tuple(importance.shape)}")


@torch.no_grad()
def analytic_attack(model, x: torch.Tensor, target: torch.Tensor, importance: torch.Tensor,
                    epsilon: Size) -> Tuple[torch.Tensor, torch.Tensor]:
    """The paper's attack: per sample, the feature direction of W^T W (scaled to norm epsilon) that hurts most.

    x, target: (n_instances, batch, n); importance: (n_instances, n); epsilon: a number or (n_instances,).
    Returns (delta, feature): the perturbations (n_instances, batch, n), each of norm epsilon
    (or 0 where every direction is 0), and the feature whose direction each sample got.
    """
    _check_batch(model, x, target, importance)
    n_instances, batch, n = x.shape
    eps = _sizes(epsilon, n_instances).to(x)
    directions = attack_directions(model.W.detach()).to(x)  # (I, n, n)
    losses = _direction_losses(model, x, target, importance, eps, directions)  # (I, n, batch)
    feature = losses.argmax(dim=1)  # (I, batch): the first of equally bad directions
    delta = eps * torch.gather(directions, 1, feature[:, :, None].expand(-1, -1, n))
    return delta, feature


def _direction_losses(model, x, target, importance, eps, directions) -> torch.Tensor:
    """Each sample's loss with each direction's push: (n_instances, n_directions, batch)."""
    from .models.toy import ToyModel  # here, not at the top: the models import this module

    n_instances, batch, n = x.shape
    losses = torch.empty(n_instances, directions.shape[1], batch, device=x.device, dtype=x.dtype)
    if not isinstance(model, ToyModel):  # any model: one forward pass per direction
        for i in range(directions.shape[1]):
            losses[:, i] = sample_losses(model, x + eps * directions[:, i : i + 1], target, importance)
        return losses
    # A ToyModel is linear up to its output: the push eps d_i moves the pre-activation y = x W^T W + b
    # by eps (W^T W) d_i for every sample alike, so every direction needs only one addition.
    W, b = model.W.detach(), model.b.detach()
    gram = W.transpose(1, 2) @ W
    y = torch.baddbmm(b[:, None, :], x, gram)  # (I, batch, n)
    shifts = eps * directions @ gram  # (I, n_directions, n)
    per_chunk = max(1, MAX_ATTACK_ELEMENTS // max(1, n_instances * batch * n))
    for start in range(0, directions.shape[1], per_chunk):
        out = y[:, None] + shifts[:, start : start + per_chunk, None, :]  # (I, k, batch, n)
        if model.activation == "relu":
            out.relu_()
        out.sub_(target[:, None]).square_()
        losses[:, start : start + out.shape[1]] = torch.einsum("ikbn,in->ikb", out, importance)
    return losses


def gradient_attack(model, x: torch.Tensor, target: torch.Tensor, importance: torch.Tensor, epsilon: Size,
                    steps: int = 50, seed: int = 0, start: str = "random") -> torch.Tensor:
    """Projected gradient ascent on each sample's loss over perturbations of norm at most epsilon.

    Starts from a random direction of norm epsilon (start="random") or from the analytic
    attack (start="analytic": then it can only improve on it), takes steps of epsilon / 2
    along the normalized gradient, projects back onto the ball, and keeps each sample's
    best perturbation seen. Returns delta (n_instances, batch, n); the model's parameters
    get no gradient.

    Steps of 2.5 epsilon / steps, common for image models, move too little here: where the
    optimum is one feature's direction, 40 of them reached 80% of it. And a gradient attack
    is blind where a ReLU is off: an output pushed below zero passes no gradient, so from a
    random start it can miss a direction the analytic attack finds.
    """
    _check_batch(model, x, target, importance)
    steps, seed = check_positive_int(steps, "steps"), check_seed(seed)
    eps = _sizes(epsilon, x.shape[0]).to(x)
    if start == "analytic":
        delta, _ = analytic_attack(model, x, target, importance, eps[:, 0, 0])
    elif start == "random":
        generator = torch.Generator(device=x.device).manual_seed(seed)
        draw = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = eps * draw / draw.norm(dim=2, keepdim=True).clamp_min(1e-30)
    else:
        raise ValueError(f'start must be "random" or "analytic"; got {start!r}')
    step = 0.5 * eps
    best = delta.clone()
    with torch.no_grad():
        best_loss = sample_losses(model, x + delta, target, importance)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = sample_losses(model, x + delta, target, importance)
        (grad,) = torch.autograd.grad(loss.sum(), delta)
        with torch.no_grad():
            delta = delta + step * grad / grad.norm(dim=2, keepdim=True).clamp_min(1e-30)
            delta = delta * (eps / delta.norm(dim=2, keepdim=True).clamp_min(1e-30)).clamp(max=1.0)
            loss = sample_losses(model, x + delta, target, importance)
            better = (loss > best_loss)[:, :, None]
            best = torch.where(better, delta, best)
            best_loss = torch.maximum(loss, best_loss)
    return best.detach()


CHOICES = ("sample", "dataset")


@torch.no_grad()
def vulnerability(model, features, relative_size: float = 0.1, samples: int = 20_000, seed: int = 0,
                  attack: str = "analytic", steps: int = 50, choose: str = "sample") -> Tuple[torch.Tensor, torch.Tensor]:
    """Each instance's loss on clean inputs and under attack, on the same samples: two (n_instances,).

    The attack's norm is relative_size (the paper: 0.1) times the mean input norm of the
    samples, per instance. attack: "analytic" (the paper's directions), "gradient"
    (projected gradient ascent of ``steps`` steps from a random start) or "refined" (the
    same ascent started from the analytic attack). choose, for the analytic attack: "sample"
    gives every sample the feature direction that hurts it most; "dataset" gives every
    sample the one direction that raises the mean loss most. The vulnerability is the
    difference; relative to the clean loss it compares models of different sparsity.
    """
    relative_size = check_number(relative_size, "relative_size")
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {ATTACKS}; got {attack!r}")
    if choose not in CHOICES:
        raise ValueError(f"choose must be one of {CHOICES}; got {choose!r}")
    if choose == "dataset" and attack != "analytic":
        raise ValueError(f'choose="dataset" picks one of the analytic attack\'s directions; got attack={attack!r}')
    if not hasattr(model, "n_instances") or not callable(getattr(model, "loss", None)) or hasattr(model, "d_sae"):
        raise ValueError(f"model must be a toy model (ToyModel, NeuronModel, ...); got {type(model).__name__}")
    if attack == "analytic" and not callable(getattr(model, "pre_activation_map", None)):
        raise ValueError(f"attack='analytic' needs a model whose output is act(M x + b) for a matrix M it names "
                         f"(pre_activation_map: the ToyModel's W^T W); a {type(model).__name__} needs "
                         "attack='gradient'")
    x, target = features.sample(check_positive_int(samples, "samples"), model.n_instances, rng=check_seed(seed))
    device = next(model.parameters()).device
    x, target = x.to(device), target.to(device)
    importance = features.importance_matrix(model.n_instances, x.device)
    eps = relative_size * x.norm(dim=2).mean(dim=1)
    clean = sample_losses(model, x, target, importance).mean(dim=1)
    if attack == "analytic" and choose == "dataset":
        directions = attack_directions(model.W.detach()).to(x)
        losses = _direction_losses(model, x, target, importance, eps[:, None, None], directions)  # (I, n, batch)
        return clean.cpu(), losses.mean(dim=2).max(dim=1).values.cpu()
    if attack == "analytic":
        delta, _ = analytic_attack(model, x, target, importance, eps)
    else:
        with torch.enable_grad():
            delta = gradient_attack(model, x, target, importance, eps, steps=steps, seed=seed,
                                    start="random" if attack == "gradient" else "analytic")
    attacked = sample_losses(model, x + delta, target, importance).mean(dim=1)
    return clean.cpu(), attacked.cpu()
