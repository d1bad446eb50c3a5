"""Measuring trained models: each instance's expected loss, and the best of several fits.

Generic over models: everything goes through ``model.loss`` on batches a
feature distribution draws with a fixed seed, except where tms_tutorial.fast
knows a more precise estimate (the decomposed loss of small ToyModels).
"""

from __future__ import annotations

import math
import numbers
from typing import Tuple

import torch
from torch import nn

from . import fast
from ._checks import check_positive_int, check_same_features, check_seed, scalar
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
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
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


def _check_sae(sae) -> None:
    if not all(callable(getattr(sae, name, None)) for name in ("encode", "decode")) or not hasattr(sae, "d_sae"):
        raise ValueError(f"sae must be a sparse autoencoder (encode, decode, d_sae); got {type(sae).__name__}")


def _check_latents(sae: nn.Module, activations, latents) -> torch.Tensor:
    """The latent of each true feature, (n_instances, n_features) in [-1, d_sae), for activations whose
    true features are known (HiddenActivations)."""
    if not callable(getattr(activations, "sample_with_features", None)):
        raise ValueError("latents needs activations whose true features are known (HiddenActivations)")
    latents = torch.as_tensor(latents, dtype=torch.long)
    n = activations.directions.shape[1]
    if latents.shape != (sae.n_instances, n) or (latents >= sae.d_sae).any() or (latents < -1).any():
        raise ValueError(f"latents must hold a latent in [-1, d_sae={sae.d_sae}) for each of the {n} features "
                         f"of each instance, shape {(sae.n_instances, n)}; got shape {tuple(latents.shape)}")
    return latents


@torch.no_grad()
def sae_statistics(sae: nn.Module, activations, samples: int = 50_000, seed: int = 0, latents=None) -> dict:
    """What a sparse autoencoder does to activations it reads; each value (n_instances,) but "firing".

    On ``samples`` draws of ``activations`` (e.g. HiddenActivations; every instance reads
    the same draws):

    * "mse": mean squared reconstruction error, mean of ||h - h_hat||^2;
    * "unexplained_variance": mse over the activations' variance E||h - E h||^2 on the same
      samples (0: perfect; 1: no better than the mean activation);
    * "l0": mean number of active latents per sample;
    * "dead": latents active on none of the samples;
    * "shrinkage": mean of ||h_hat|| / ||h|| over samples with h != 0 (1: the SAE writes
      vectors as long as it reads; below 1: shorter);
    * "firing": (n_instances, d_sae), the share of samples on which each latent is active
      (0 for a dead latent).

    With ``latents`` (n_instances, n_features), the latent standing for each true
    feature (metrics.matched_latents; -1 for none), and HiddenActivations, also:

    * "gain": when feature i is on and its latent fires, how much of the feature's
      size the latent carries: sum of f_latent over sum of x_i ||W_i|| over those samples
      (1: all of it; a ReLU SAE's L1 penalty shrinks it below 1), averaged over the
      matched features whose latent fires on them at least once;
    * "misses": the share of samples with feature i on in which its latent stays off
      (a threshold or a bias that drops small activations);
    * "false_fires": the share of samples with feature i off in which its latent fires
      (interference from other features read as feature i).

    The last two are averaged over the matched features.
    """
    samples, seed = check_positive_int(samples, "samples"), check_seed(seed)
    _check_sae(sae)
    device = next(sae.parameters()).device
    known = latents is not None
    if known:
        latents = _check_latents(sae, activations, latents).to(device)
        n = latents.shape[1]
        scale = activations.directions.norm(dim=0).to(device)  # ||W_i||
        own, size, missed, fires = (torch.zeros(sae.n_instances, n, device=device) for _ in range(4))
        on_count, off_count = torch.zeros(n, device=device), torch.zeros(n, device=device)
    rng = UniformStream(seed, device)
    totals = {"mse": 0.0, "l0": 0.0, "shrinkage": 0.0}
    fired = torch.zeros(sae.n_instances, sae.d_sae, device=device)
    h_sum, h_square = torch.zeros(sae.n_instances, sae.d_in, device=device), 0.0
    nonzero = 0
    for start in range(0, samples, 10_000):
        size_now = min(10_000, samples - start)
        if known:
            x, h1 = activations.sample_with_features(size_now, rng=rng, device=device)
            h = h1[None].expand(sae.n_instances, -1, -1)
        else:
            h, _ = activations.sample(size_now, sae.n_instances, rng=rng, device=device)
        f = sae.encode(h)
        h_hat = sae.decode(f)
        active = f > 0
        fired += active.sum(dim=1)
        totals["mse"] = totals["mse"] + ((h - h_hat) ** 2).sum(dim=2).sum(dim=1)
        h_sum += h.sum(dim=1)
        h_square = h_square + (h ** 2).sum(dim=(1, 2))
        totals["l0"] = totals["l0"] + active.sum(dim=2).sum(dim=1).float()
        length = h.norm(dim=2)  # (I, B): each instance's own samples, its own mask
        keep = length > 0
        ratio = torch.where(keep, h_hat.norm(dim=2) / length.clamp_min(1e-30), torch.zeros_like(length))
        totals["shrinkage"] = totals["shrinkage"] + ratio.sum(dim=1)
        nonzero = nonzero + keep.sum(dim=1)
        if known:
            mine = f.gather(2, latents.clamp_min(0)[:, None, :].expand(-1, size_now, -1))  # (I, B, n)
            on, lit = x > 0, mine > 0  # (B, n), (I, B, n)
            hit = lit & on
            own += (mine * hit).sum(dim=1)
            size += (x * scale * hit).sum(dim=1)
            missed += (~lit & on).sum(dim=1)
            fires += (lit & ~on).sum(dim=1)
            on_count += on.sum(dim=0)
            off_count += (~on).sum(dim=0)
    variance = h_square / samples - ((h_sum / samples) ** 2).sum(dim=1)  # E||h||^2 - ||E h||^2
    out = {"mse": totals["mse"] / samples, "unexplained_variance": totals["mse"] / samples / variance.clamp_min(1e-12),
           "l0": totals["l0"] / samples,
           "dead": (fired == 0).sum(dim=1), "shrinkage": totals["shrinkage"] / torch.as_tensor(nonzero).clamp_min(1),
           "firing": fired / samples}
    if known:
        matched = (latents >= 0).float()
        count = matched.sum(dim=1).clamp_min(1)
        hits = matched * (size > 0)  # features whose latent fired on them at least once
        out["gain"] = (own / size.clamp_min(1e-12) * hits).sum(dim=1) / hits.sum(dim=1).clamp_min(1)
        out["misses"] = (missed / on_count.clamp_min(1) * matched).sum(dim=1) / count
        out["false_fires"] = (fires / off_count.clamp_min(1) * matched).sum(dim=1) / count
    return {key: value.cpu() for key, value in out.items()}


@torch.no_grad()
def matched_activations(sae: nn.Module, activations, latents, samples: int = 20_000, seed: int = 0):
    """Each true feature's size and its matched latent's activation, sample by sample.

    activations: HiddenActivations (its true features are known); latents: (n_instances,
    n_features), the latent standing for each feature (metrics.matched_latents; -1 for
    none, read as 0). Returns sizes (samples, n_features), x_i ||W_i||, and activations
    (n_instances, samples, n_features): the raw material of plotting.plot_sae_readout.
    """
    samples, seed = check_positive_int(samples, "samples"), check_seed(seed)
    _check_sae(sae)
    latents = _check_latents(sae, activations, latents)
    device = next(sae.parameters()).device
    x, h = activations.sample_with_features(samples, rng=UniformStream(seed, device), device=device)
    f = sae.encode(h[None].expand(sae.n_instances, -1, -1))
    index = latents.to(device).clamp_min(0)[:, None, :].expand(-1, samples, -1)
    mine = f.gather(2, index) * (latents.to(device) >= 0)[:, None, :]
    return (x * activations.directions.norm(dim=0).to(device)).cpu(), mine.cpu()
