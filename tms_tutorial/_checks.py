"""Input checks shared by the modules: each raises a ValueError naming the argument."""

from __future__ import annotations

import torch


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return value


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
    return tensor
