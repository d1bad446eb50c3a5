"""Measuring trained models: each instance's expected loss, and the best of several fits.

Generic over models: everything goes through ``model.loss`` on batches a
feature distribution draws with a fixed seed, except where tms_tutorial.fast
knows a more precise estimate (the decomposed loss of small ToyModels).
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import nn

from . import fast
from ._checks import check_positive_int, check_same_features, check_seed
from .data import UniformStream, chunk_size


@torch.no_grad()
def evaluate(model: nn.Module, features, batch_size: int = 100_000, seed: int = 1234,
             common_samples: bool = False) -> torch.Tensor:
    """Each instance's loss on one large batch drawn with a fixed seed, shape (n_instances,).

    Less noisy than the training history; use it to pick the best of several fits.
    ToyModels of at most 4 independent features are evaluated on the paper's
    decomposition instead: the terms of samples with at most one active feature
    exactly, and each activity pattern with two or more on batch_size samples of
    its own, so that sparse fits are ranked as precisely as dense ones.

    common_samples: every instance sees the same uniform draws (turned into
    features with its own probabilities), so that fits of one setting are
    compared on identical data and their differences carry no sampling noise
    between them. Needs a distribution with ``transform`` and ``target`` (all of
    the library's); not used by the decomposed evaluation, which is exact where
    it matters.
    """
    batch_size, seed = check_positive_int(batch_size, "batch_size"), check_seed(seed)
    check_same_features(model, features)
    if not isinstance(common_samples, bool):
        raise ValueError(f"common_samples must be True or False; got {common_samples!r}")
    if common_samples and not (callable(getattr(features, "transform", None))
                               and callable(getattr(features, "target", None))):
        raise ValueError(f"common_samples needs features with transform and target methods; "
                         f"{type(features).__name__} has none")
    precise = fast.loss_for(model, features, batch_size, seed)
    if precise is not None:
        return precise.cpu()
    return _batch_means(model, features, batch_size, seed, chunk=None,
                        common=common_samples).sum(dim=0).cpu() / batch_size


@torch.no_grad()
def sampled_loss(model: nn.Module, features, samples: int = 1_000_000, seed: int = 0,
                 chunks: int = 100) -> Tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo estimate of each instance's expected loss and its standard error: two (n_instances,).

    ``samples`` draws in ``chunks`` equal chunks; the standard error is that of
    the mean of the chunks' means (the batch-means method). Use it to check a
    closed form against sampling.
    """
    samples, chunks, seed = check_positive_int(samples, "samples"), check_positive_int(chunks, "chunks"), check_seed(seed)
    if samples % chunks:
        raise ValueError(f"samples must be a multiple of chunks={chunks}; got {samples}")
    check_same_features(model, features)
    means = _batch_means(model, features, samples, seed, chunk=samples // chunks) / (samples // chunks)  # (k, I)
    return means.mean(dim=0).cpu(), (means.std(dim=0) / chunks ** 0.5).cpu()


@torch.no_grad()
def loss_by_active_features(model: nn.Module, features, samples: int = 1_000_000, seed: int = 0
                            ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean loss of the samples with no active feature, and with only feature j active, by sampling.

    Paper section "Mathematical Understanding": the terms L_0 and L_{j} of the
    decomposition, to compare with tms_tutorial.theory's closed forms. Each
    sample's loss is sum_i I_i (target_i - output_i)^2 (the model's penalty, if
    any, is not included). Returns (mean, standard error), each (n_instances,
    1 + n_features): column 0 for no active feature, column 1 + j for only j.
    """
    samples, seed = check_positive_int(samples, "samples"), check_seed(seed)
    check_same_features(model, features)
    device = next(model.parameters()).device
    x, target = features.sample(samples, model.n_instances, rng=UniformStream(seed, device))
    importance = features.importance_matrix(model.n_instances, device)
    per_sample = ((target - model(x)) ** 2 * importance[:, None, :]).sum(dim=2)  # (I, S)
    active = x != 0
    count = active.sum(dim=2)
    groups = [count == 0] + [(count == 1) & active[:, :, j] for j in range(model.n_features)]
    means, errors = [], []
    for group in groups:  # (I, S) masks
        size = group.sum(dim=1).double()
        mean = (per_sample * group).sum(dim=1) / size
        variance = ((per_sample - mean[:, None]) ** 2 * group).sum(dim=1) / (size - 1)
        means.append(mean)
        errors.append((variance / size).sqrt())
    return torch.stack(means, dim=1).cpu(), torch.stack(errors, dim=1).cpu()


def best_of(loss: torch.Tensor, restarts: int) -> torch.Tensor:
    """Index of the lowest-loss instance in each run of ``restarts`` consecutive instances.

    For sweeps laid out setting by setting, each setting repeated ``restarts``
    times (e.g. ``p.repeat_interleave(restarts)``). loss: (n_settings * restarts,).
    Returns (n_settings,) indices into the instance dimension. NaN losses (diverged
    fits) are never picked; a setting none of whose fits has a finite loss is an error.
    """
    restarts = check_positive_int(restarts, "restarts")
    loss = torch.as_tensor(loss, dtype=torch.float64)
    if loss.dim() != 1 or loss.shape[0] % restarts:
        raise ValueError(
            f"loss must be one value per instance, a multiple of restarts={restarts} of them; "
            f"got shape {tuple(loss.shape)}"
        )
    groups = loss.reshape(-1, restarts)
    groups = torch.where(torch.isnan(groups), math.inf, groups)  # a diverged (NaN) fit is never the best
    failed = ~torch.isfinite(groups).any(dim=1)
    if failed.any():
        raise ValueError(f"loss must have a finite value in every group of restarts; groups "
                         f"{failed.nonzero().squeeze(1).tolist()[:20]} have none")
    return groups.argmin(dim=1) + restarts * torch.arange(groups.shape[0])


def _batch_means(model: nn.Module, features, samples: int, seed: int, chunk, common: bool = False) -> torch.Tensor:
    """Summed losses of consecutive chunks of ``samples`` draws: (n_chunks, n_instances).

    common: one set of uniform draws, repeated for every instance (see evaluate).
    """
    device = next(model.parameters()).device
    importance = features.importance_matrix(model.n_instances, device)
    rng = UniformStream(seed, device)
    if chunk is None:  # as large as fits about 16 MB
        chunk = chunk_size(model.n_instances, model.n_features, samples, target_bytes=1 << 24)
    sums = []
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        if common:
            u = rng.fill(torch.empty(1, size, model.n_features, device=device))
            x = features.transform(u.expand(model.n_instances, size, model.n_features).clone())
            target = features.target(x)
        else:
            x, target = features.sample(size, model.n_instances, rng=rng)
        sums.append(model.loss(x, target, importance) * size)
    return torch.stack(sums)


@torch.no_grad()
def single_feature_response(model: nn.Module, value: float = 0.5) -> torch.Tensor:
    """Each output's answer to its own feature alone, at +value and at -value: (n_instances, n_features, 2).

    Entry [k, i, 0] is how much output i of instance k rises from x = 0 to x = value e_i
    (every other feature zero), divided by value; [k, i, 1] the same for x = -value e_i.
    For the absolute-value task a feature computed on both sides reads (1, 1); a feature
    whose negative half was never learned reads (1, 0); a dropped feature whose output is
    a constant bias reads (0, 0). value: in (0, 1], the size of the probe.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"value must be a number in (0, 1] (features lie in [-1, 1]); got {value!r}")
    n, instances = model.n_features, model.n_instances
    device = next(model.parameters()).device
    probe = torch.eye(n, device=device) * value  # (n, n): row i is value e_i
    x = torch.cat([probe, -probe, torch.zeros(1, n, device=device)])[None].expand(instances, 2 * n + 1, n)
    out = model(x.contiguous())  # (I, 2n + 1, n)
    diagonal = torch.arange(n, device=device)
    at_zero = out[:, 2 * n, :]  # (I, n)
    rise = torch.stack([out[:, diagonal, diagonal] - at_zero, out[:, n + diagonal, diagonal] - at_zero], dim=2)
    return rise.cpu() / value
