"""Sweeps: many settings trained side by side, several fits each, and what they learned.

A sweep lays its settings out along the instance dimension, each setting
repeated ``fits`` times in a row, so that one model trains them all and
evaluation.best_of picks the lowest-loss fit of each.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from ._checks import check_number, check_positive_int, check_seed
from .data import SetFeatures, SignedFeatures, SparseFeatures
from .evaluation import evaluate, single_feature_response
from .models import ComputationModel, ResampleDuplicates, ToyModel
from .train import train


def _densities(densities, name: str = "densities") -> torch.Tensor:
    """densities as a non-empty 1-d float tensor of values in [0, 1]."""
    try:
        p = torch.as_tensor(densities, dtype=torch.float32).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a number or a list of numbers; got {densities!r}") from exc
    if len(p) == 0 or not torch.isfinite(p).all() or ((p < 0) | (p > 1)).any():
        raise ValueError(f"{name} must be a non-empty list of densities in [0, 1]; got {p.tolist()}")
    return p


def phase_grid_features(n_features: int, densities, importances, fits: int) -> SparseFeatures:
    """Features for a phase diagram: every (density, relative importance) pair, ``fits`` instances each.

    Instances run over densities first, then importances, then fits:
    instance (i * len(importances) + j) * fits + f has density densities[i];
    its last feature has importance importances[j], the others importance 1.
    """
    check_positive_int(fits, "fits")
    check_positive_int(n_features, "n_features")
    densities = _densities(densities)
    try:
        importances = torch.as_tensor(importances, dtype=torch.float32).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"importances must be numbers or arrays of numbers; got {importances!r}") from exc
    if len(importances) == 0 or not torch.isfinite(importances).all() or (importances < 0).any():
        raise ValueError(f"importances must be a non-empty list of importances >= 0; got {importances.tolist()}")
    P, R = torch.meshgrid(densities, importances, indexing="ij")
    p = P.reshape(-1).repeat_interleave(fits)
    r = R.reshape(-1).repeat_interleave(fits)
    importance = torch.cat([torch.ones(len(r), n_features - 1), r[:, None]], dim=1)
    return SparseFeatures(n_features, p, importance)


def learned_phases(names, losses, grid_shape: Tuple[int, int], candidates: Sequence[str]):
    """What each grid point learned, from its fits' solution names and losses.

    names: (points * fits,) solution names (e.g. theory.classify_n2); losses: the same
    shape; grid_shape: (len(densities), len(importances)). Returns three arrays of
    grid_shape: the index into candidates of the lowest-loss fit's solution (-1 for
    anything else); the majority among the fits left after dropping the highest-loss
    one (the paper's "discarding the one with the highest loss"); and the share of
    those fits that agree with that majority.
    """
    names = np.asarray(names).reshape(-1).astype(str)
    losses = np.asarray(torch.as_tensor(losses)).reshape(-1)
    if not isinstance(grid_shape, (tuple, list)) or len(grid_shape) != 2:
        raise ValueError(f"grid_shape must be (len(densities), len(importances)); got {grid_shape!r}")
    points = check_positive_int(grid_shape[0], "grid_shape[0]") * check_positive_int(grid_shape[1], "grid_shape[1]")
    if not np.isfinite(losses.astype(float)).all():
        raise ValueError("losses must be finite (a diverged fit cannot be ranked)")
    if names.shape != losses.shape or len(names) % points:
        raise ValueError(f"names and losses must each hold a multiple of {points} values (fits per grid point); "
                         f"got {names.shape} and {losses.shape}")
    fits = len(names) // points
    if fits < 2:
        raise ValueError("learned_phases needs at least 2 fits per point")
    names, losses = names.reshape(points, fits), losses.reshape(points, fits)
    index = {name: k for k, name in enumerate(candidates)}
    best, majority, share = np.full(points, -1), np.full(points, -1), np.zeros(points)
    for k in range(points):
        order = np.argsort(losses[k], kind="stable")
        best[k] = index.get(names[k, order[0]], -1)
        values, counts = np.unique(names[k, order[:-1]], return_counts=True)
        majority[k] = index.get(values[counts.argmax()], -1)
        share[k] = counts.max() / (fits - 1)
    return best.reshape(grid_shape), majority.reshape(grid_shape), share.reshape(grid_shape)


def feature_set_fits(n_features: int, n_hidden: int, densities, fits: int = 10, seed: int = 1, steps: int = 4000,
                     correlated=(), anticorrelated=(), eval_batch_size: int = 1_000_000
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Every one of ``fits`` ToyModels per density, trained on correlated / anticorrelated sets.

    Section "Correlated and Anticorrelated Features": every feature of density p
    (SetFeatures' definitions of the sets), importance 1, AdamW at lr 1e-3 for
    ``steps`` steps, each fit evaluated on eval_batch_size samples. Returns W,
    (len(densities), fits, n_hidden, n_features), and the losses, (len(densities), fits).
    """
    check_positive_int(fits, "fits")
    check_positive_int(eval_batch_size, "eval_batch_size")
    p = _densities(densities)
    probability = p.repeat_interleave(fits)[:, None].expand(-1, n_features).contiguous()
    features = SetFeatures(n_features, probability, correlated=correlated, anticorrelated=anticorrelated)
    model = ToyModel(n_features, n_hidden, len(p) * fits, seed=seed)
    train(model, features, steps=steps, progress=False)
    loss = evaluate(model, features, batch_size=eval_batch_size)
    return model.W.detach().reshape(len(p), fits, n_hidden, n_features), loss.reshape(len(p), fits)


def fit_feature_sets(n_features: int, n_hidden: int, densities, fits: int = 10, seed: int = 1, steps: int = 4000,
                     correlated=(), anticorrelated=(), eval_batch_size: int = 1_000_000) -> torch.Tensor:
    """The lowest-loss of ``fits`` ToyModels per density (feature_set_fits).

    Returns W of the best fit per density: (len(densities), n_hidden, n_features).
    """
    W, loss = feature_set_fits(n_features, n_hidden, densities, fits, seed, steps, correlated, anticorrelated,
                               eval_batch_size)
    return W[torch.arange(W.shape[0]), loss.argmin(dim=1)]


def computation_sweep(densities, n_features: int = 100, n_hidden: int = 40, importance_decay: float = 0.8,
                      seeds: int = 3, abs_scale: float = 0.3, steps: int = 20_000, lr: float = 3e-3,
                      schedule: str = "cosine", resample_every: Optional[int] = 250,
                      resample_until: Optional[int] = 15_000, seed: int = 0, snapshots: Sequence[int] = (),
                      device=None) -> dict:
    """The absolute-value sweep of section "Computation in Superposition", from two starts.

    For each density 1-S: ``seeds`` ComputationModels started from xavier-normal weights
    and ``seeds`` started with init "abs" (W2 = |W1|^T, W1 xavier times abs_scale), all
    trained side by side (AdamW, lr on ``schedule``, batch 1024, ``steps`` steps) on
    SignedFeatures with I_i = importance_decay^i, and evaluated on 100,000 samples shared
    by all fits. With resample_every, every that many steps up to resample_until,
    neurons that duplicate another are merged into it and restarted at random
    (ComputationModel.merge_duplicates); None trains without.
    Returns a dict of tensors: "W1" (d, fits, m, n), "W2" (d, fits, n, m), "b" (d, fits, n),
    "loss" (d, fits), "response" (d, fits, n, 2) (evaluation.single_feature_response),
    "init", the start of each fit (fits = 2 seeds, xavier first), "resampled", how many
    neurons were restarted in all, and with ``snapshots`` (steps in [0, steps]) the
    responses after those many steps, "snapshot_response" (d, fits, len(snapshots), n, 2).
    """
    seeds, seed = check_positive_int(seeds, "seeds"), check_seed(seed)
    check_number(abs_scale, "abs_scale", positive=True)
    importance_decay = check_number(importance_decay, "importance_decay", positive=True)
    if importance_decay > 1:
        raise ValueError(f"importance_decay must lie in (0, 1] (I_i = importance_decay^i); got {importance_decay!r}")
    if (resample_every is None) != (resample_until is None):
        raise ValueError(f"resample_every and resample_until must both be given or both be None; "
                         f"got {resample_every!r} and {resample_until!r}")
    if resample_every is not None:
        check_positive_int(resample_every, "resample_every")
        check_positive_int(resample_until, "resample_until")
    p = _densities(densities)
    fits = 2 * seeds
    starts = [ComputationModel(n_features, n_hidden, len(p) * seeds, seed=seed),
              ComputationModel(n_features, n_hidden, len(p) * seeds, seed=seed + 1, init="abs", init_scale=abs_scale)]
    model = ComputationModel(n_features, n_hidden, len(p) * fits)
    with torch.no_grad():
        for name in ("W1", "W2", "b"):
            parts = [getattr(start, name).reshape(len(p), seeds, *getattr(start, name).shape[1:]) for start in starts]
            getattr(model, name).copy_(torch.cat(parts, dim=1).reshape(getattr(model, name).shape))
    if device is not None:
        model = model.to(device)
    importance = importance_decay ** torch.arange(n_features, dtype=torch.float32)
    features = SignedFeatures(n_features, p.repeat_interleave(fits), importance)
    resampler = None if resample_every is None else ResampleDuplicates(resample_every, resample_until, seed=seed)
    history = train(model, features, steps=steps, lr=lr, schedule=schedule, seed=seed, progress=False,
                    callback=resampler, snapshots=list(snapshots) or None)
    loss = evaluate(model, features, common_samples=True)
    response = single_feature_response(model)
    shape = (len(p), fits)
    run = {"W1": model.W1.detach().cpu().reshape(*shape, n_hidden, n_features),
           "W2": model.W2.detach().cpu().reshape(*shape, n_features, n_hidden),
           "b": model.b.detach().cpu().reshape(*shape, n_features), "loss": loss.reshape(shape),
           "response": response.reshape(*shape, n_features, 2), "init": ["xavier"] * seeds + ["abs"] * seeds,
           "resampled": 0 if resampler is None else resampler.resampled}
    if len(snapshots):
        probe = ComputationModel(n_features, n_hidden, len(p) * fits)
        responses = []
        for k in range(len(history.snapshot_steps)):
            with torch.no_grad():
                for name in ("W1", "W2", "b"):
                    getattr(probe, name).copy_(torch.as_tensor(history.snapshots[name][k]))
            responses.append(single_feature_response(probe).reshape(*shape, n_features, 2))
        order = [sorted(set(int(s) for s in snapshots)).index(int(s)) for s in snapshots]
        run["snapshot_response"] = torch.stack(responses, dim=2)[:, :, order]
    return run


def summarize_computation_sweep(run: dict, densities, settings: dict) -> dict:
    """computation_sweep's result as plain numbers (what tms_tutorial.stored keeps): per density every fit's
    loss and single-feature responses (3 decimals), the index of the lowest-loss fit and its W1, W2, b (4 decimals),
    and, where the run took snapshots, the responses of the n_hidden // 2 most important features at each
    (2 decimals). settings: the arguments the sweep was called with, kept beside the results."""
    def rounded(tensor: torch.Tensor, decimals: int = 4):  # rounded in Python: float32 values print long
        return np.round(tensor.double().numpy(), decimals).tolist()

    missing = [key for key in ("W1", "W2", "b", "loss", "response", "init", "resampled")
               if not isinstance(run, dict) or key not in run]
    if missing:
        raise ValueError(f"run must be what computation_sweep returns; it lacks {missing}")
    densities = list(_densities(densities).tolist()) if not isinstance(densities, (list, tuple)) else list(densities)
    if len(densities) != run["loss"].shape[0]:
        raise ValueError(f"densities must list the run's {run['loss'].shape[0]} densities; got {len(densities)}")
    points = []
    top = run["W1"].shape[2] // 2
    for k, p in enumerate(densities):
        best = int(run["loss"][k].argmin())
        point = {"density": p, "loss": [round(v, 8) for v in run["loss"][k].tolist()],
                 "response": rounded(run["response"][k], 3), "best": best,
                 "W1": rounded(run["W1"][k, best]), "W2": rounded(run["W2"][k, best]),
                 "b": rounded(run["b"][k, best])}
        if "snapshot_response" in run:
            point["snapshot_response"] = rounded(run["snapshot_response"][k, :, :, :top], 2)
        points.append(point)
    return dict(settings, batch_size=1024, init=run["init"], resampled=run["resampled"], densities=points)


def merge_computation_sweeps(summaries) -> list:
    """Several summarized sweeps of the same densities (e.g. one per learning rate) as one: per density every
    fit's loss, responses and snapshot responses side by side (the summaries' fits in order), the index of the
    lowest-loss fit among them all and its W1, W2, b. Returns the list of densities, as summarize_computation_sweep
    lays them out."""
    summaries = list(summaries)
    if any(not isinstance(s, dict) or "densities" not in s for s in summaries):
        raise ValueError("summaries must be summarized sweeps (summarize_computation_sweep)")
    if not summaries or any(len(s["densities"]) != len(summaries[0]["densities"]) for s in summaries):
        raise ValueError("summaries must be one or more summarized sweeps over the same densities")
    merged = []
    for points in zip(*(summary["densities"] for summary in summaries)):
        if len({point["density"] for point in points}) != 1:
            raise ValueError(f"summaries must list the same densities in the same order; got "
                             f"{[point['density'] for point in points]}")
        loss = [value for point in points for value in point["loss"]]
        best = min(range(len(loss)), key=loss.__getitem__)
        owner = points[best // len(points[0]["loss"])]
        entry = {"density": points[0]["density"], "loss": loss, "best": best,
                 "response": [r for point in points for r in point["response"]],
                 "W1": owner["W1"], "W2": owner["W2"], "b": owner["b"]}
        if all("snapshot_response" in point for point in points):
            entry["snapshot_response"] = [r for point in points for r in point["snapshot_response"]]
        merged.append(entry)
    return merged
