"""Input checks shared by the modules: each raises a ValueError naming the argument."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

MAX_SEED = 2**63 - 1  # the largest seed every generator here accepts (torch's is a signed 64-bit integer)


def scalar(value: object) -> object:
    """A 0-d tensor or array as the Python number it holds; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype != torch.bool:
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return value.item()
    return value


def check_positive_int(value: object, name: str) -> int:
    """value as an int (numpy integers and 0-d integer tensors too); bools and non-positive numbers are refused."""
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def check_seed(value: object, name: str = "seed") -> int:
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in [0, 2**63 - 1]; got {value!r}")
    return int(value)


def check_number(value: object, name: str, low: float = 0.0, positive: bool = False) -> float:
    """A finite real number (numpy scalars and 0-d tensors too) >= low, or > low if positive."""
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < low or (positive and value == low):
        bound = f"> {low:g}" if positive else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return float(value)


def check_between(value: object, name: str, low: float, high: float, low_open: bool = False,
                  high_open: bool = False) -> float:
    """A real number (numpy scalars and 0-d tensors too) in the interval from low to high."""
    value = scalar(value)
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) \
            or value < low or value > high or (low_open and value == low) or (high_open and value == high):
        raise ValueError(f"{name} must be a number in {left}{low:g}, {high:g}{right}; got {value!r}")
    return float(value)


def check_index(value: object, name: str, size: int) -> int:
    """An integer index in [0, size) (numpy integers and 0-d integer tensors too)."""
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < size:
        raise ValueError(f"{name} must be an integer in [0, {size}); got {value!r}")
    return int(value)


def check_same_features(model: object, features: object) -> None:
    """A model and a feature distribution must agree on n_features."""
    if features.n_features != model.n_features:
        raise ValueError(
            f"features has n_features={features.n_features} but the model has n_features={model.n_features}"
        )


def check_activation(activation: object) -> str:
    if activation not in ("relu", "linear"):
        raise ValueError(f"activation must be 'relu' or 'linear'; got {activation!r}")
    return activation


def check_weights(W: object, name: str = "W") -> torch.Tensor:
    """Return W as a detached float tensor of shape (n_instances, n_hidden, n_features)."""
    try:
        tensor = torch.as_tensor(W).detach().float()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be an array of numbers; got {type(W).__name__}") from exc
    if tensor.dim() != 3:
        raise ValueError(
            f"{name} must have shape (n_instances, n_hidden, n_features); got shape "
            f"{tuple(tensor.shape)} (for a single model pass {name}[None])"
        )
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).flatten(1).any(dim=1).nonzero().squeeze(1).tolist()
        raise ValueError(f"{name} holds NaN or infinite values in instances {bad[:20]} (did training diverge?)")
    return tensor
