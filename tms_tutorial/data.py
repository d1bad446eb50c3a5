"""Synthetic sparse features: what the toy models see, and what they must output.

Each feature x_i is zero with probability S (the sparsity) and otherwise drawn
from U[0, 1]; the paper calls 1 - S the feature probability (or density).
Every feature also carries an importance I_i that weights its squared error in
the loss (paper section "Demonstrating Superposition", experiment setup).

A distribution draws a batch as ``(x, target)``, each (n_instances, batch,
n_features): the target is x itself for the autoencoding models, and |x| for
the absolute-value task of section "Computation in Superposition"
(``SignedFeatures``). Correlated and anticorrelated sets: ``SetFeatures``.
"""

from __future__ import annotations

import numbers

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ._checks import check_positive_int, check_seed

ArrayLike = Union[float, Sequence[float], torch.Tensor]


def _as_float_tensor(value: ArrayLike, name: str) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a number or an array of numbers; got {value!r}") from exc
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite; got {value!r}")
    return tensor


class SparseFeatures:
    """Independent sparse features: x_i = 0 with probability 1 - p_i, else U[0, 1].

    Args:
        n_features: number of features n (> 0).
        feature_probability: p = 1 - S, each in [0, 1]. A scalar (same for every
            instance and feature), shape (n_instances,) (one value per instance,
            shared by its features) or (n_instances, n_features).
        importance: I_i >= 0. A scalar, shape (n_features,) (shared by every
            instance) or (n_instances, n_features).

    The instance count is fixed by the model the features are used with; shapes
    that name an instance count must match it (see :meth:`probability`).

    Example:
        >>> features = SparseFeatures(5, feature_probability=[1.0, 0.2, 0.1],
        ...                           importance=0.9 ** torch.arange(5))
        >>> x, target = features.sample(batch_size=4, n_instances=3, rng=0)
        >>> x.shape
        torch.Size([3, 4, 5])
    """

    def __init__(
        self,
        n_features: int,
        feature_probability: ArrayLike = 1.0,
        importance: ArrayLike = 1.0,
    ) -> None:
        self.n_features = check_positive_int(n_features, "n_features")
        self._transforms: dict = {}
        self.feature_probability = feature_probability  # checked by the setters below
        self.importance = importance

    @property
    def feature_probability(self) -> torch.Tensor:
        """p = 1 - S; setting it checks the new value like the constructor (and sampling uses it)."""
        return self._feature_probability

    @feature_probability.setter
    def feature_probability(self, value: ArrayLike) -> None:
        n_features = self.n_features
        p = _as_float_tensor(value, "feature_probability")
        if p.dim() > 2 or (p.dim() == 2 and p.shape[1] != n_features):
            raise ValueError(
                "feature_probability must be a scalar, shape (n_instances,) or "
                f"(n_instances, n_features={n_features}); got shape {tuple(p.shape)}"
            )
        if p.numel() == 0:
            raise ValueError("feature_probability must not be empty")
        if ((p < 0) | (p > 1)).any():
            raise ValueError(
                "feature_probability must lie in [0, 1] (it is 1 - sparsity); "
                f"got values from {p.min().item():g} to {p.max().item():g}"
            )
        self._feature_probability = p
        self._transforms = {}

    @property
    def importance(self) -> torch.Tensor:
        """I_i >= 0; setting it checks the new value like the constructor."""
        return self._importance

    @importance.setter
    def importance(self, value: ArrayLike) -> None:
        n_features = self.n_features
        imp = _as_float_tensor(value, "importance")
        if imp.dim() > 2 or (imp.dim() >= 1 and imp.shape[-1] != n_features):
            raise ValueError(
                "importance must be a scalar, shape (n_features,) or "
                f"(n_instances, n_features) with n_features={n_features}; got shape {tuple(imp.shape)}"
            )
        if (imp < 0).any():
            raise ValueError(f"importance must be >= 0; got a minimum of {imp.min().item():g}")
        self._importance = imp

    def _cache_key(self, u: torch.Tensor) -> tuple:
        """What a cached transform depends on: the instance count, the device and the probabilities as they are
        now (an in-place change of feature_probability bumps its version)."""
        p = self._feature_probability
        return (u.shape[0], u.device, id(p), p._version)

    def __repr__(self) -> str:
        return (
            f"SparseFeatures(n_features={self.n_features}, "
            f"feature_probability shape {tuple(self.feature_probability.shape)}, "
            f"importance shape {tuple(self.importance.shape)})"
        )

    def probability(self, n_instances: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Feature probabilities broadcast to shape (n_instances, n_features)."""
        check_positive_int(n_instances, "n_instances")
        p = self.feature_probability
        if p.dim() >= 1:
            _check_instances(p.shape[0], "feature_probability", n_instances)
        if p.dim() == 1:
            p = p[:, None]
        return p.expand(n_instances, self.n_features).to(device)

    def importance_matrix(self, n_instances: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Importances broadcast to shape (n_instances, n_features)."""
        check_positive_int(n_instances, "n_instances")
        imp = self.importance
        if imp.dim() == 2:
            _check_instances(imp.shape[0], "importance", n_instances)
        return imp.expand(n_instances, self.n_features).to(device)

    # The target a model must output is the input itself (autoencoding); the fast
    # training routes of tms_tutorial.fast rely on this for the distributions that say so.
    target_is_input = True

    def sample(
        self,
        batch_size: int,
        n_instances: int,
        rng: Union[int, "UniformStream", None] = None,
        device: Optional[torch.device] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw a batch: (x, target), each of shape (n_instances, batch_size, n_features).

        rng: a seed, or a :class:`UniformStream` to continue (default: seed 0).
        For these features the target is x itself (the same tensor).
        """
        check_positive_int(batch_size, "batch_size")
        check_positive_int(n_instances, "n_instances")
        if not isinstance(rng, UniformStream):
            rng = UniformStream(0 if rng is None else rng, device)
        x = self.transform(rng.fill(torch.empty(n_instances, batch_size, self.n_features, device=rng.device)))
        return x, self.target(x)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What a model should output for input x: x itself (autoencoding)."""
        return x

    def transform(self, u: torch.Tensor) -> torch.Tensor:
        """Turn uniform draws u (n_instances, batch, n_features) into features, in place.

        One uniform number per entry does both jobs: x = ReLU(1 - u / p). The
        feature is active exactly when u < p (probability p), and then 1 - u / p
        is itself uniform on (0, 1].
        """
        key = self._cache_key(u)
        if key not in self._transforms:  # computed once per instance count, device and probabilities
            p = self.probability(u.shape[0], u.device)[:, None, :]  # (I, 1, n)
            self._transforms[key] = (-1.0 / p.clamp_min(1e-30), (p > 0) if (p == 0).any() else None)
        scale, never_zero = self._transforms[key]
        u.mul_(scale).add_(1.0).relu_()
        if never_zero is not None:  # u = 0 would count as active; p = 0 means never
            u.mul_(never_zero)
        return u


class UniformStream:
    """A seeded stream of uniform [0, 1) float32 numbers for the feature sampler.

    On the CPU it draws from numpy's PCG64 generator, about 2.5x faster than
    torch.rand here; on other devices it uses a torch generator there. The same
    seed and the same sequence of requests give the same numbers.
    """

    def __init__(self, seed: int, device: Optional[torch.device] = None) -> None:
        seed = check_seed(seed)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        if self.device.type == "cpu":
            self._numpy = np.random.Generator(np.random.PCG64(seed))
        else:
            self._torch = torch.Generator(device=self.device).manual_seed(seed)

    def fill(self, out: torch.Tensor) -> torch.Tensor:
        """Fill the contiguous float32 tensor ``out`` with uniform numbers and return it."""
        if self.device.type != "cpu":
            return out.uniform_(generator=self._torch)
        self._numpy.random(out=out.view(-1).numpy(), dtype=np.float32)
        return out


def chunk_size(n_instances: int, n_features: int, batch_size: int, target_bytes: int = 1 << 21) -> int:
    """Rows per chunk (a power of two, at least 16, at most batch_size) so that one
    (n_instances, chunk, n_features) float32 array is about target_bytes (2 MB: a CPU's cache)."""
    n_instances, n_features = check_positive_int(n_instances, "n_instances"), check_positive_int(n_features, "n_features")
    batch_size, target_bytes = check_positive_int(batch_size, "batch_size"), check_positive_int(target_bytes, "target_bytes")
    rows = max(16, target_bytes // (4 * n_instances * n_features))
    return min(batch_size, 1 << (rows.bit_length() - 1))


def _check_instances(found: int, name: str, n_instances: int) -> None:
    if found != n_instances:
        raise ValueError(f"{name} has {found} instances but the model has n_instances={n_instances}")


class SetFeatures(SparseFeatures):
    """Sparse features some of which come in correlated or anticorrelated sets.

    The paper's definitions (section "Correlated and Anticorrelated Features"):

    * a **correlated** set is active or zero as a whole, with the set's
      probability p; when active, each member's value is its own U[0, 1] draw;
    * an **anticorrelated** set is zero with probability 1 - p; otherwise exactly
      one member, chosen uniformly, is active with a U[0, 1] value (so each
      member is active with probability p / size, never two at once).

    Features in no set are independent, as in SparseFeatures. Arguments as for
    SparseFeatures, plus ``correlated`` and ``anticorrelated``: sequences of
    disjoint sets of at least two feature indices. Within a set every member's
    feature_probability must be the same; it is the set's p.

    Sampling still takes one uniform number per entry: a set's first member's
    number decides whether the set is active (and, for an anticorrelated set,
    the value); the others' give their own values (correlated) or which member
    is active (anticorrelated, the second member's number).
    """

    def __init__(self, n_features: int, feature_probability: ArrayLike = 1.0, importance: ArrayLike = 1.0,
                 correlated: Sequence[Sequence[int]] = (), anticorrelated: Sequence[Sequence[int]] = ()) -> None:
        super().__init__(n_features, feature_probability, importance)
        used: set = set()
        self.correlated, self.anticorrelated = [], []
        for name, sets in (("correlated", correlated), ("anticorrelated", anticorrelated)):
            if isinstance(sets, (str, bytes, torch.Tensor)) or not isinstance(sets, Sequence):
                raise ValueError(f"{name} must be a sequence of sets of feature indices; got {sets!r}")
            for members in sets:
                if isinstance(members, (str, bytes)) or not isinstance(members, (Sequence, torch.Tensor)):
                    raise ValueError(f"{name} sets must be sequences of feature indices; got {members!r}")
                members = list(members.tolist() if isinstance(members, torch.Tensor) else members)
                if len(members) < 2:
                    raise ValueError(f"{name} sets must have at least two features; got {members}")
                for i in members:
                    if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < n_features:
                        raise ValueError(f"{name} set members must be feature indices in [0, {n_features}); got {i!r}")
                    if i in used:
                        raise ValueError(f"{name} sets must be disjoint from each other and from the other kind; "
                                         f"feature {i} appears twice")
                    used.add(i)
                getattr(self, name).append([int(i) for i in members])
        self._check_sets(self.feature_probability)

    def _check_sets(self, p: torch.Tensor) -> None:
        for name, sets in (("correlated", self.correlated), ("anticorrelated", self.anticorrelated)):
            for members in sets:
                if p.dim() == 2 and not torch.all(p[:, members] == p[:, members[:1]]):
                    raise ValueError(f"feature_probability must be equal within the {name} set {members}")

    def _set_probability(self, value: ArrayLike) -> None:
        previous = getattr(self, "_feature_probability", None)
        SparseFeatures.feature_probability.fset(self, value)
        if hasattr(self, "anticorrelated"):  # after the constructor: the sets must still hold
            try:
                self._check_sets(self._feature_probability)
            except ValueError:
                self._feature_probability, self._transforms = previous, {}
                raise

    feature_probability = SparseFeatures.feature_probability.setter(_set_probability)

    def __repr__(self) -> str:
        return (f"SetFeatures(n_features={self.n_features}, correlated={self.correlated}, "
                f"anticorrelated={self.anticorrelated})")

    def transform(self, u: torch.Tensor) -> torch.Tensor:
        """Uniform draws (n_instances, batch, n_features) -> features, in place (see the class)."""
        saved = {}
        for members in self.correlated + self.anticorrelated:
            saved[members[0]] = u[..., members[1:]].clone()  # the other members' numbers, before they are used
        x = super().transform(u)  # independent features; each set's first member: active with p, value U(0, 1]
        for members in self.correlated:
            active = x[..., members[0]] > 0
            x[..., members[1:]] = torch.where(active[..., None], 1.0 - saved[members[0]], torch.zeros(()))
        for members in self.anticorrelated:
            value = x[..., members[0]].clone()  # non-zero exactly when the set is active
            chosen = (saved[members[0]][..., 0] * len(members)).long().clamp_max(len(members) - 1)
            for position, i in enumerate(members):
                x[..., i] = torch.where(chosen == position, value, torch.zeros(()))
        return x


class SignedFeatures(SparseFeatures):
    """Sparse features of either sign, for the absolute-value task.

    Paper section "Computation in Superposition": x_i = 0 with probability
    1 - p_i, else uniform on [-1, 1]; the model must output y = |x|. Arguments
    as for SparseFeatures. One uniform number u per entry: the feature is
    active when u < p, and then 1 - 2 u / p is uniform on (-1, 1].
    """

    target_is_input = False

    def __repr__(self) -> str:
        return super().__repr__().replace("SparseFeatures", "SignedFeatures", 1)

    def transform(self, u: torch.Tensor) -> torch.Tensor:
        """Uniform draws (n_instances, batch, n_features) -> signed features, in place."""
        key = ("signed",) + self._cache_key(u)
        if key not in self._transforms:
            p = self.probability(u.shape[0], u.device)[:, None, :]  # (I, 1, n)
            self._transforms[key] = (p, -2.0 / p.clamp_min(1e-30))
        p, scale = self._transforms[key]
        active = u < p
        return u.mul_(scale).add_(1.0).mul_(active)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """The absolute value |x|."""
        return x.abs()


class HiddenActivations:
    """The hidden activations h = W x of one trained toy model: the data a sparse autoencoder reads.

    Args:
        features: the feature distribution x is drawn from (one model's: its
            probabilities and importances may not differ between instances).
        W: the model's weights, (n_hidden, n_features) (e.g. ``model.W[k]``); column i
            is feature i's true direction in the hidden space.

    ``sample(batch_size, n_instances, rng)`` draws one batch of x and returns
    ``(h, h)``, h of shape (n_instances, batch, n_hidden): every instance (e.g. SAEs
    with different sparsity coefficients) sees the same activations. n_features is
    the width the SAE reads, n_hidden; importance is 1 in every direction.
    """

    target_is_input = True

    def __init__(self, features: SparseFeatures, W) -> None:
        if not isinstance(features, SparseFeatures):
            raise ValueError(f"features must be a feature distribution such as SparseFeatures; "
                             f"got {type(features).__name__}")
        try:
            features.probability(1)
        except ValueError as exc:
            raise ValueError("features must describe one model (no per-instance probabilities); "
                             f"got {features!r}") from exc
        W = torch.as_tensor(W).detach().float().cpu()
        if W.dim() != 2 or W.shape[1] != features.n_features or not torch.isfinite(W).all():
            raise ValueError(f"W must be one model's finite weights, shape (n_hidden, n_features="
                             f"{features.n_features}); got shape {tuple(W.shape)}")
        self.features = features
        self.directions = W
        self.n_features = W.shape[0]
        self._on: dict = {}

    def __repr__(self) -> str:
        return f"HiddenActivations(n_hidden={self.directions.shape[0]}, from {self.features!r})"

    def importance_matrix(self, n_instances: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Ones, (n_instances, n_hidden): every direction of h counts alike."""
        check_positive_int(n_instances, "n_instances")
        return torch.ones(n_instances, self.n_features, device=device)

    def sample_with_features(self, batch_size: int, rng: Union[int, "UniformStream", None] = None,
                             device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """One batch of the features and their activations: x (batch, n_features), h (batch, n_hidden)."""
        x, _ = self.features.sample(batch_size, 1, rng=rng, device=device)
        device = x.device
        if device not in self._on:
            self._on[device] = self.directions.to(device)
        return x[0], x[0] @ self._on[device].T

    def sample(self, batch_size: int, n_instances: int, rng: Union[int, "UniformStream", None] = None,
               device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(h, h), each (n_instances, batch_size, n_hidden): the same activations for every instance."""
        check_positive_int(n_instances, "n_instances")
        _, h = self.sample_with_features(batch_size, rng, device)
        h = h[None].expand(n_instances, -1, -1)
        return h, h


def _check_sample_args(batch_size: int, n_instances: int, rng, device) -> "UniformStream":
    check_positive_int(batch_size, "batch_size")
    check_positive_int(n_instances, "n_instances")
    return rng if isinstance(rng, UniformStream) else UniformStream(0 if rng is None else rng, device)


class ProductTask:
    """Two inputs and their product: x = (u, v), target u * v (chapter 7).

    u and v are independent standard normals (the post's setting), drawn from the
    seeded uniform stream by the Box-Muller transform. n_features is 2 (the inputs);
    the target has one entry, whose importance is 1.
    """

    n_features = 2
    target_is_input = False

    def __repr__(self) -> str:
        return "ProductTask(u, v ~ N(0, 1); target u v)"

    def importance_matrix(self, n_instances: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Ones, (n_instances, 1): the one output."""
        check_positive_int(n_instances, "n_instances")
        return torch.ones(n_instances, 1, device=device)

    def sample(self, batch_size: int, n_instances: int, rng: Union[int, "UniformStream", None] = None,
               device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """x (n_instances, batch_size, 2) and target (n_instances, batch_size, 1)."""
        rng = _check_sample_args(batch_size, n_instances, rng, device)
        u = rng.fill(torch.empty(2, n_instances, batch_size, device=rng.device))
        if u.device.type == "cpu":
            # numpy's own log, cos and sin: torch's vectorized float32 versions on the CPU were seen to
            # differ by about 1e-4 between two identical calls in one process, which breaks "same seed,
            # same numbers"; numpy's give the same bits every time
            drawn = u.numpy()
            radius = np.sqrt(-2.0 * np.log1p(-drawn[0]))  # 1 - u lies in (0, 1]: no log(0)
            angle = np.float32(2 * np.pi) * drawn[1]
            x = torch.from_numpy(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=2))
        else:
            radius = torch.sqrt(-2.0 * torch.log1p(-u[0]))
            angle = 2 * torch.pi * u[1]
            x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=2)
        return x, (x[..., 0] * x[..., 1])[..., None]


class LookupTask:
    """A fixed table of inputs and targets, rows drawn uniformly: a task to memorize (chapter 7).

    inputs: (items, n_features); targets: (items, n_outputs), or (items,) for one output.
    """

    target_is_input = False

    def __init__(self, inputs, targets) -> None:
        inputs = _as_float_tensor(inputs, "inputs")
        targets = _as_float_tensor(targets, "targets")
        if targets.dim() == 1:
            targets = targets[:, None]
        if inputs.dim() != 2 or targets.dim() != 2 or inputs.shape[0] != targets.shape[0] or inputs.shape[0] == 0:
            raise ValueError(f"inputs must be (items, n_features) and targets (items, n_outputs) with the same "
                             f"number of items (> 0); got {tuple(inputs.shape)} and {tuple(targets.shape)}")
        if not (torch.isfinite(inputs).all() and torch.isfinite(targets).all()):
            raise ValueError("inputs and targets must be finite")
        self.inputs, self.targets = inputs, targets
        self.n_features = inputs.shape[1]

    def __repr__(self) -> str:
        return f"LookupTask({self.inputs.shape[0]} items, {self.n_features} inputs, {self.targets.shape[1]} outputs)"

    def importance_matrix(self, n_instances: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Ones, (n_instances, n_outputs)."""
        check_positive_int(n_instances, "n_instances")
        return torch.ones(n_instances, self.targets.shape[1], device=device)

    def sample(self, batch_size: int, n_instances: int, rng: Union[int, "UniformStream", None] = None,
               device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Rows drawn uniformly, independently per instance: x (I, batch, n_features), target (I, batch, n_outputs)."""
        rng = _check_sample_args(batch_size, n_instances, rng, device)
        u = rng.fill(torch.empty(n_instances, batch_size, device=rng.device))
        index = (u * self.inputs.shape[0]).long().clamp_max(self.inputs.shape[0] - 1)
        return self.inputs.to(rng.device)[index], self.targets.to(rng.device)[index]
