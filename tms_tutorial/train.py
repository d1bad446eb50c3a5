"""One trainer for every model of the book; it knows nothing about any of them.

A model brings ``loss(x, target, importance) -> (n_instances,)`` (and, if it
keeps an invariant, ``after_step()``); a feature distribution brings
``sample(batch_size, n_instances, rng) -> (x, target)``. Each step draws a
fresh batch, backpropagates the sum of the instances' losses and takes an
AdamW step. The defaults are those of the paper's authors' notebook: AdamW
(torch's default weight decay, 0.01) at lr 1e-3, batch 1024, 10,000 steps, a
constant learning rate. Models that tms_tutorial.fast recognizes train on a
faster route with the same objective.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Optional, Union

import numpy as np
import torch
from torch import nn

from . import fast
from ._checks import check_number, check_positive_int, check_same_features, check_seed
from .data import UniformStream
from .threads import ThreadChooser

SCHEDULES = ("constant", "linear", "cosine")


class NonFiniteLossError(RuntimeError):
    """Training stopped because an instance's loss became NaN or infinite."""


@dataclass
class History:
    """What train recorded.

    steps: (n_records,) the step of each loss record (every log_every steps).
    loss: (n_records, n_instances) each instance's loss on that step's batch
        (for ToyModels of at most 4 features, that step's decomposed estimate).
    snapshot_steps: (n_snapshots,) the steps of the snapshots: the parameters after that many updates.
    snapshots: parameter name -> (n_snapshots, *parameter shape), e.g. "W": (k, I, m, n).
    """

    steps: np.ndarray
    loss: np.ndarray
    snapshot_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    snapshots: Dict[str, np.ndarray] = field(default_factory=dict)

    def final_loss(self, last: int = 10) -> np.ndarray:
        """Mean of the last ``last`` records per instance, shape (n_instances,)."""
        check_positive_int(last, "last")
        return self.loss[-last:].mean(axis=0)


def lr_factor(step: int, steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``steps``.

    constant: 1. linear: decays from 1 to 0. cosine: half a cosine from 1 to 0.
    A warm-up, if any, rises linearly from 1/warmup_steps to 1 first.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if not 0 <= step < steps:
        raise ValueError(f"step must lie in [0, steps={steps}); got {step!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train(
    model: nn.Module,
    features,
    steps: int = 10_000,
    batch_size: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    schedule: str = "constant",
    warmup_steps: int = 0,
    weight_decay: float = 0.01,
    log_every: int = 10,
    snapshots: Union[None, int, Iterable[int]] = None,
    callback: Optional[Callable[[int, nn.Module, torch.Tensor], None]] = None,
    progress: bool = True,
    use_fast_routes: bool = True,
    threads: Optional[int] = None,
) -> History:
    """Train every instance of ``model`` on ``features`` in place; the same arguments give the same weights.

    Minimizes the sum over instances of model.loss on fresh batches of
    ``batch_size`` samples per instance, with AdamW, on the device of the
    model's parameters.

    snapshots: keep copies of every parameter after every k updates (an int k;
        step 0 is the initialization) or after the given numbers of updates (a
        sequence in [0, steps]), in History.snapshots: for learning dynamics.
    callback: called as callback(step, model, loss) every log_every steps,
        after that step's update, with the loss (n_instances,) recorded at it.
    use_fast_routes: False trains through autograd even where
        tms_tutorial.fast has a faster route (to compare the two).
    threads: None lets training time its own steps on one CPU thread and on
        the most it may use, and keep the faster (tms_tutorial.threads; it
        changes no number), except that a single instance trains on one thread
        (with one matrix per product the sums would depend on the thread count);
        an int pins torch's thread count while training.
        torch's thread count is restored afterwards.

    Raises NonFiniteLossError at the first recorded step (losses are recorded
    every log_every steps) whose loss is NaN or infinite, naming the step and
    the instances, before that step's update.
    """
    _check_arguments(model, features, steps, batch_size, lr, schedule, warmup_steps, weight_decay, log_every)
    _check_flags(progress, use_fast_routes, threads)
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be a function callback(step, model, loss) or None; got {callback!r}")
    steps, batch_size, log_every, seed = int(steps), int(batch_size), int(log_every), check_seed(seed)
    lr, warmup_steps = float(lr), int(warmup_steps)
    snapshot_steps = _snapshot_steps(snapshots, steps)
    device = next(model.parameters()).device
    step_gradients = fast.step_for(model, features, batch_size, seed) if use_fast_routes else None
    if step_gradients is None:
        step_gradients = _autograd_step(model, features, batch_size, seed, device)
    optimizer = _adamw(model, lr, weight_decay)
    after_step = getattr(model, "after_step", None)

    record_steps = np.arange(0, steps, log_every)
    records = torch.zeros(len(record_steps), model.n_instances, device=device)
    kept: Dict[str, list] = {name: [] for name, _ in model.named_parameters()}
    bar = _progress_bar(steps) if progress else None
    if threads is None and device.type != "cpu":
        threads = torch.get_num_threads()  # the GPU does the work: leave the CPU threads alone
    elif threads is None and model.n_instances == 1:
        # one matrix per product: BLAS splits its sums over the threads, so the numbers would depend on their count
        threads = 1
    with ThreadChooser(fixed=threads) as chooser:
        for step in range(steps + 1):
            if step in snapshot_steps:
                for name, parameter in model.named_parameters():
                    kept[name].append(parameter.detach().cpu().clone())
            if step == steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor(step, steps, schedule, warmup_steps)
            optimizer.zero_grad(set_to_none=True)
            logging = step % log_every == 0
            loss = step_gradients(logging)
            if logging:
                _check_finite(loss, step, log_every)
                records[step // log_every] = loss
            optimizer.step()
            if after_step is not None:
                after_step()
            if logging and callback is not None:
                callback(step, model, loss)
            if bar is not None:
                bar.update(1)
                if step % 500 == 0:
                    bar.set_postfix(mean_loss=f"{records[step // log_every].mean().item():.4g}")
            chooser.step_done()
        # the updates after the last record (or all of them, with steps < log_every) are checked too
        _check_finite(_final_loss(model, step_gradients, optimizer), steps, log_every, final=True)
    if bar is not None:
        bar.close()
    stacked = {name: torch.stack(values).numpy() for name, values in kept.items() if values}
    return History(record_steps, records.cpu().numpy(), np.array(sorted(snapshot_steps), dtype=int), stacked)


def _autograd_step(model: nn.Module, features, batch_size: int, seed: int, device: torch.device):
    """The general route: a fresh batch, model.loss, backward."""
    importance = features.importance_matrix(model.n_instances, device)
    rng = UniformStream(seed, device)

    def step(with_loss: bool) -> torch.Tensor:
        x, target = features.sample(batch_size, model.n_instances, rng=rng)
        loss = model.loss(x, target, importance)
        loss.sum().backward()
        return loss.detach()

    return step


def _final_loss(model: nn.Module, step_gradients, optimizer) -> torch.Tensor:
    """Each instance's loss on one more batch after the last update; inf where a parameter is not finite."""
    loss = step_gradients(True).clone()
    optimizer.zero_grad(set_to_none=True)
    for parameter in model.parameters():
        if parameter.dim() and parameter.shape[0] == model.n_instances:
            finite = torch.isfinite(parameter.detach()).flatten(1).all(dim=1) if parameter.dim() > 1 \
                else torch.isfinite(parameter.detach())
            loss = torch.where(finite.to(loss.device), loss, torch.full_like(loss, float("inf")))
        elif not torch.isfinite(parameter.detach()).all():
            loss = torch.full_like(loss, float("inf"))
    return loss


def _check_finite(loss: torch.Tensor, step: int, log_every: int, final: bool = False) -> None:
    bad = ~torch.isfinite(loss)
    if bad.any():
        instances = bad.nonzero().squeeze(1).tolist()
        last = (step - 1) // log_every * log_every if final else step - log_every
        since = f" (the last record, at step {last}, was finite)" if step else ""
        when = f"after the last update (step {step})" if final else f"at step {step}"
        raise NonFiniteLossError(
            f"the loss became non-finite {when}{since} in instances {instances[:20]}"
            f"{' and more' if len(instances) > 20 else ''} of {loss.numel()}; try a lower lr"
        )


def _snapshot_steps(snapshots, steps: int) -> set:
    if snapshots is None:
        return set()
    if isinstance(snapshots, numbers.Integral) and not isinstance(snapshots, bool):
        check_positive_int(snapshots, "snapshots")
        return set(range(0, steps + 1, int(snapshots)))
    if isinstance(snapshots, (str, bytes)) or not isinstance(snapshots, Iterable):
        raise ValueError(f"snapshots must be an interval (int > 0) or a sequence of steps; got {snapshots!r}")
    values = list(snapshots.tolist() if hasattr(snapshots, "tolist") else snapshots)
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in values):
        raise ValueError(f"snapshots must be an interval (int > 0) or a sequence of integer steps; got {snapshots!r}")
    chosen = {int(s) for s in values}
    if any(not 0 <= s <= steps for s in chosen):
        raise ValueError(f"snapshots must be steps in [0, steps={steps}]; got {sorted(chosen)}")
    return chosen


def _check_arguments(model, features, steps, batch_size, lr, schedule, warmup_steps, weight_decay, log_every):
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(log_every, "log_every")
    check_number(lr, "lr", positive=True)
    check_number(weight_decay, "weight_decay")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral) or not 0 <= warmup_steps <= steps:
        raise ValueError(f"warmup_steps must be an integer in [0, steps={steps}]; got {warmup_steps!r}")
    if not callable(getattr(model, "loss", None)) or not hasattr(model, "n_instances"):
        raise ValueError(f"model must have n_instances and loss(x, target, importance); got {type(model).__name__}")
    if not callable(getattr(features, "sample", None)) or not hasattr(features, "importance_matrix"):
        raise ValueError(f"features must be a feature distribution (e.g. SparseFeatures); got {type(features).__name__}")
    check_same_features(model, features)


def _check_flags(progress, use_fast_routes, threads) -> None:
    for value, name in ((progress, "progress"), (use_fast_routes, "use_fast_routes")):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False; got {value!r}")
    if threads is not None:
        check_positive_int(threads, "threads")


def _progress_bar(steps: int):
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc="training", leave=False)


def _adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel where this torch supports it."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
