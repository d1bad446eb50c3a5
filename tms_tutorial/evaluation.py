"""Measuring trained models: each instance's expected loss, and the best of several fits.

Generic over models: everything goes through ``model.loss`` on batches a
feature distribution draws with a fixed seed, except where tms_tutorial.fast
knows a more precise estimate (the decomposed loss of small ToyModels).
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from . import fast
from ._checks import check_positive_int
from .data import UniformStream, chunk_size


@torch.no_grad()
def evaluate(model: nn.Module, features, batch_size: int = 100_000, seed: int = 1234) -> torch.Tensor:
    """Each instance's loss on one large batch drawn with a fixed seed, shape (n_instances,).

    Less noisy than the training history; use it to pick the best of several fits.
    ToyModels of at most 4 independent features are evaluated on the paper's
    decomposition instead: the terms of samples with at most one active feature
    exactly, and each activity pattern with two or more on batch_size samples of
    its own, so that sparse fits are ranked as precisely as dense ones.
    """
    check_positive_int(batch_size, "batch_size")
    _check_pair(model, features)
    precise = fast.loss_for(model, features, batch_size, seed)
    if precise is not None:
        return precise.cpu()
    return _batch_means(model, features, batch_size, seed, chunk=None).sum(dim=0).cpu() / batch_size


@torch.no_grad()
def sampled_loss(model: nn.Module, features, samples: int = 1_000_000, seed: int = 0,
                 chunks: int = 100) -> Tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo estimate of each instance's expected loss and its standard error: two (n_instances,).

    ``samples`` draws in ``chunks`` equal chunks; the standard error is that of
    the mean of the chunks' means (the batch-means method). Use it to check a
    closed form against sampling.
    """
    check_positive_int(samples, "samples")
    check_positive_int(chunks, "chunks")
    if samples % chunks:
        raise ValueError(f"samples must be a multiple of chunks={chunks}; got {samples}")
    _check_pair(model, features)
    means = _batch_means(model, features, samples, seed, chunk=samples // chunks) / (samples // chunks)  # (k, I)
    return means.mean(dim=0).cpu(), (means.std(dim=0) / chunks ** 0.5).cpu()


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


def _batch_means(model: nn.Module, features, samples: int, seed: int, chunk) -> torch.Tensor:
    """Summed losses of consecutive chunks of ``samples`` draws: (n_chunks, n_instances)."""
    device = next(model.parameters()).device
    importance = features.importance_matrix(model.n_instances, device)
    rng = UniformStream(seed, device)
    if chunk is None:  # as large as fits about 16 MB
        chunk = chunk_size(model.n_instances, model.n_features, samples, target_bytes=1 << 24)
    sums = []
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        x, target = features.sample(size, model.n_instances, rng=rng)
        sums.append(model.loss(x, target, importance) * size)
    return torch.stack(sums)


def _check_pair(model: nn.Module, features) -> None:
    if features.n_features != model.n_features:
        raise ValueError(
            f"features has n_features={features.n_features} but the model has n_features={model.n_features}"
        )
