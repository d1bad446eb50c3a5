"""One trainer for every toy model: all instances in one batched pass.

The defaults are those of the paper's authors' notebook: AdamW (torch's
default weight decay, 0.01) at lr 1e-3, batch 1024, 10,000 steps, a constant
learning rate. Any model that maps a batch of shape (n_instances, batch,
n_features) to a reconstruction of the same shape trains through autograd; a
model that computes its own gradients (ToyModel.accumulate_gradients) does so
faster, and small ToyModels take the decomposed loss of tms_tutorial.decomposition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._checks import check_positive_int
from .data import SparseFeatures, UniformStream
from .decomposition import MAX_FEATURES, PatternSampler, exact_part, sampled_part_gradients, stratified_part
from .active import ActiveSampler, active_gradients, prefers_active
from .models import ToyModel, dense_gradients, reconstruction_loss

SCHEDULES = ("constant", "linear", "cosine")


@dataclass
class History:
    """Losses recorded during training.

    steps: (n_records,) the step index of each record.
    loss: (n_records, n_instances) each instance's loss on that step's batch (for
        models trained on the decomposed loss, that step's estimate of it).
    """

    steps: np.ndarray
    loss: np.ndarray

    def final_loss(self, last: int = 10) -> np.ndarray:
        """Mean of the last ``last`` records per instance, shape (n_instances,)."""
        return self.loss[-last:].mean(axis=0)


def lr_factor(step: int, steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``steps``.

    constant: 1. linear: decays from 1 to 0. cosine: half a cosine from 1 to 0.
    A warm-up, if any, rises linearly from 1/warmup_steps to 1 first.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _check_inputs(model: nn.Module, features: SparseFeatures, steps, batch_size, lr, schedule, warmup_steps, log_every):
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(log_every, "log_every")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or not 0 <= warmup_steps <= steps:
        raise ValueError(f"warmup_steps must be an integer in [0, steps={steps}]; got {warmup_steps!r}")
    if not isinstance(features, SparseFeatures):
        raise ValueError(f"features must be a SparseFeatures; got {type(features).__name__}")
    if features.n_features != model.n_features:
        raise ValueError(
            f"features has n_features={features.n_features} but the model has n_features={model.n_features}"
        )


def train(
    model: nn.Module,
    features: SparseFeatures,
    steps: int = 10_000,
    batch_size: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    schedule: str = "constant",
    warmup_steps: int = 0,
    weight_decay: float = 0.01,
    log_every: int = 10,
    progress: bool = True,
) -> History:
    """Train every instance of ``model`` on ``features`` in place.

    Minimizes sum over instances of E_x sum_i I_i (x_i - x'_i)^2, estimated on
    fresh batches of ``batch_size`` samples per instance and step, with AdamW.
    Runs on the device the model is on. The same arguments (and the same
    initial model) give bit-identical weights.

    Each batch is processed in chunks small enough to stay in the CPU's cache;
    a model with an ``accumulate_gradients`` method (ToyModel) computes its
    gradients by hand, any other model through autograd. Either way the
    gradient is that of the loss on the whole batch. ToyModels with at most
    MAX_FEATURES (4) features instead take the paper's decomposition of the
    loss: the terms of samples with none or one active feature in closed form,
    only the rest sampled (tms_tutorial.decomposition). That is an unbiased
    estimate of the same expected loss, with less noise than a batch.

    Returns the History of each instance's loss, recorded every ``log_every`` steps.
    """
    _check_inputs(model, features, steps, batch_size, lr, schedule, warmup_steps, log_every)
    device = model.W.device
    n_instances = model.n_instances
    importance = features.importance_matrix(n_instances, device).contiguous()  # (I, n)
    optimizer = _adamw(model, lr, weight_decay)
    if uses_decomposition(model, features):
        step_gradients = _decomposed_steps(model, features, importance, batch_size, seed)
    else:
        step_gradients = _chunked_steps(model, features, importance, batch_size, seed)

    record_steps = np.arange(0, steps, log_every)
    records = torch.zeros(len(record_steps), n_instances, device=device)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="training", leave=False)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(step, steps, schedule, warmup_steps)
        optimizer.zero_grad(set_to_none=True)
        logging = step % log_every == 0
        loss = step_gradients(logging)
        if logging:
            records[step // log_every] = loss
        optimizer.step()
        if bar is not None:
            bar.update(1)
            if step % 500 == 0:
                bar.set_postfix(mean_loss=f"{records[step // log_every].mean().item():.4g}")
    if bar is not None:
        bar.close()
    return History(steps=record_steps, loss=records.cpu().numpy())


def uses_decomposition(model: nn.Module, features: SparseFeatures) -> bool:
    """Whether train takes the decomposed loss (ToyModels of at most MAX_FEATURES features)."""
    return isinstance(model, ToyModel) and type(features) is SparseFeatures and model.n_features <= MAX_FEATURES


def _chunked_steps(model, features, importance, batch_size, seed):
    """Gradients of the loss on a fresh batch; returns the batch loss when asked.

    On the CPU, a ToyModel's sparse instances (see tms_tutorial.active) draw
    only their active entries; the rest are drawn whole and processed in chunks.
    """
    n_instances = model.n_instances
    active = torch.zeros(n_instances, dtype=torch.bool)
    if isinstance(model, ToyModel) and importance.device.type == "cpu" and type(features) is SparseFeatures:
        p_max = features.probability(n_instances).max(dim=1).values
        active = prefers_active(p_max, model.n_features, model.n_hidden)
    if not active.any():
        return _dense_steps(model, features, importance, batch_size, seed)
    return _split_steps(model, features, importance, batch_size, seed, active)


def _dense_steps(model, features, importance, batch_size, seed):
    """Every entry drawn, the batch processed chunk by chunk."""
    rng = UniformStream(seed, importance.device)
    # Chunks keep a CPU's caches warm; a GPU is better served by one launch per batch.
    cpu = importance.device.type == "cpu"
    chunk = chunk_size(model.n_instances, model.n_features, batch_size) if cpu else batch_size
    buffer = torch.empty(model.n_instances, chunk, model.n_features, device=importance.device)

    def step(with_loss: bool):
        total = 0.0
        for start in range(0, batch_size, chunk):
            size = min(chunk, batch_size - start)
            x = features.transform(rng.fill(buffer if size == chunk else buffer[:, :size].contiguous()))
            loss = _accumulate(model, x, importance, batch_size, with_loss)
            if with_loss:
                total = total + loss
        return total

    return step


def _split_steps(model, features, importance, batch_size, seed, active):
    """A ToyModel on the CPU whose ``active`` instances take the active-entry route, the rest the dense one."""
    sparse_index = active.nonzero().squeeze(1)
    dense_index = (~active).nonzero().squeeze(1)
    probability = features.probability(model.n_instances)
    sampler = ActiveSampler(probability[sparse_index], batch_size, seed)
    group = max(1, (1 << 22) // (4 * batch_size * model.n_features))  # instances whose (B, n) output would be ~4 MB
    if len(dense_index):
        dense_features = SparseFeatures(model.n_features, probability[dense_index], importance[dense_index])
        rng = UniformStream(seed)
        chunk = chunk_size(len(dense_index), model.n_features, batch_size)
        buffer = torch.empty(len(dense_index), chunk, model.n_features)

    def step(with_loss: bool):
        W, b = model.W.detach(), model.b.detach()
        grad_W, grad_b = torch.empty_like(W), torch.empty_like(b)
        loss = torch.zeros(model.n_instances) if with_loss else None
        if len(dense_index):
            W_dense, b_dense, importance_dense = W[dense_index], b[dense_index], importance[dense_index]
            for start in range(0, batch_size, chunk):
                size = min(chunk, batch_size - start)
                x = dense_features.transform(rng.fill(buffer if size == chunk else buffer[:, :size].contiguous()))
                part = dense_gradients(W_dense, b_dense, x, importance_dense, batch_size, model.activation, with_loss)
                if start == 0:
                    chunk_loss, dense_W, dense_b = part
                else:
                    dense_W.add_(part[1])
                    dense_b.add_(part[2])
                    if with_loss:
                        chunk_loss = chunk_loss + part[0]
            grad_W[dense_index], grad_b[dense_index] = dense_W, dense_b
            if with_loss:
                loss[dense_index] = chunk_loss
        rows, cols, values = sampler.sample()
        bounds = torch.searchsorted(rows, torch.arange(0, len(sparse_index) + 1) * batch_size).tolist()
        for first in range(0, len(sparse_index), group):  # a few instances at a time, for the caches
            last = min(first + group, len(sparse_index))
            index, lo, hi = sparse_index[first:last], bounds[first], bounds[last]
            group_loss, grad_W[index], grad_b[index] = active_gradients(
                W[index], b[index], importance[index],
                rows[lo:hi] - first * batch_size, cols[lo:hi] - first * model.n_features, values[lo:hi],
                batch_size, model.activation, with_loss,
            )
            if with_loss:
                loss[index] = group_loss
        model.W.grad, model.b.grad = grad_W, grad_b
        return loss

    return step


def _decomposed_steps(model, features, importance, batch_size, seed):
    """Gradients of the decomposed loss estimate (see tms_tutorial.decomposition)."""
    sampler = PatternSampler(features, model.n_instances, batch_size, seed, importance.device)

    def step(with_loss: bool):
        exact = exact_part(model, features)  # (I,)
        exact.sum().backward()
        sampled, grad_W, grad_b = sampled_part_gradients(model, importance, *sampler.sample(), batch_size)
        model.W.grad.add_(grad_W)
        model.b.grad.add_(grad_b)
        return (exact.detach() + sampled) if with_loss else None

    return step


def chunk_size(n_instances: int, n_features: int, batch_size: int, target_bytes: int = 1 << 21) -> int:
    """Rows per chunk so that one (n_instances, chunk, n_features) float32 array is about 2 MB."""
    rows = max(16, target_bytes // (4 * n_instances * n_features))
    return min(batch_size, 1 << (rows.bit_length() - 1))


def _accumulate(model: nn.Module, x: torch.Tensor, importance: torch.Tensor, batch_size: int, with_loss: bool):
    if hasattr(model, "accumulate_gradients"):
        return model.accumulate_gradients(x, importance, batch_size, with_loss)
    loss = reconstruction_loss(x, model(x), importance) * (x.shape[1] / batch_size)
    loss.sum().backward()
    return loss.detach() if with_loss else None


def _adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel where this torch supports it."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def best_of(loss: torch.Tensor, restarts: int) -> torch.Tensor:
    """Index of the lowest-loss instance in each run of ``restarts`` consecutive instances.

    For sweeps laid out setting by setting, each setting repeated ``restarts``
    times (e.g. ``p.repeat_interleave(restarts)``). loss: (n_settings * restarts,).
    Returns (n_settings,) indices into the instance dimension.
    """
    check_positive_int(restarts, "restarts")
    loss = torch.as_tensor(loss)
    if loss.dim() != 1 or loss.shape[0] % restarts:
        raise ValueError(
            f"loss must be one value per instance, a multiple of restarts={restarts} of them; "
            f"got shape {tuple(loss.shape)}"
        )
    groups = loss.reshape(-1, restarts)
    return groups.argmin(dim=1) + restarts * torch.arange(groups.shape[0])


@torch.no_grad()
def evaluate(model: nn.Module, features: SparseFeatures, batch_size: int = 100_000, seed: int = 1234) -> torch.Tensor:
    """Each instance's loss on one large batch drawn with a fixed seed, shape (n_instances,).

    Less noisy than the training history; use it to pick the best of several fits.
    Models that train on the decomposed loss (at most 4 features) are evaluated
    the same way: the terms of samples with at most one active feature exactly,
    and each activity pattern with two or more on batch_size samples of its own
    (decomposition.stratified_part), so that sparse fits are ranked as
    precisely as dense ones.
    """
    check_positive_int(batch_size, "batch_size")
    device = model.W.device
    importance = features.importance_matrix(model.n_instances, device)
    if uses_decomposition(model, features):
        return (exact_part(model, features) + stratified_part(model, features, batch_size, seed)).cpu()
    rng = UniformStream(seed, device)
    total = torch.zeros(model.n_instances, device=device)
    chunk = chunk_size(model.n_instances, model.n_features, batch_size, target_bytes=1 << 24)
    for start in range(0, batch_size, chunk):
        size = min(chunk, batch_size - start)
        x = features.sample(size, model.n_instances, rng=rng)
        total += reconstruction_loss(x, model(x), importance) * size
    return total.cpu() / batch_size
