"""Sparse autoencoders: an overcomplete dictionary learned from a model's activations.

The follow-up to the paper's "strategic picture": instead of training models without
superposition, take the features out of superposition afterwards. An SAE reads an
activation vector x (d_in), writes d_sae non-negative latents f and reconstructs

    f = act(W_enc^T (x - b_dec) + b_enc),    x_hat = W_dec^T f + b_dec,

trained to reconstruct x while keeping f sparse. The parameter names are SAELens'
(W_enc: d_in x d_sae, W_dec: d_sae x d_in, so that row j of W_dec is latent j's
direction), with the instance dimension first. Kinds:

* "relu": act = ReLU, sparsity from an L1 penalty l1_coefficient * sum_j f_j ||W_dec_j||;
* "topk": keep the k largest pre-activations (ReLU of them), zero the rest (Gao et al.
  2024); no penalty;
* "jumprelu": f_j = z_j if z_j > theta_j else 0, with a learned threshold theta_j per
  latent and an L0 penalty l0_coefficient * #{j: f_j > 0}; the threshold learns through
  straight-through estimators with a rectangle kernel of width ``bandwidth``
  (Rajamanoharan et al. 2024).

Every kind keeps decoder rows at unit norm (after_step), so a latent's size is its
activation and decoder rows compare directly with the true feature directions.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .._checks import check_number, check_positive_int, check_seed
from .base import per_instance, reconstruction_loss

KINDS = ("relu", "topk", "jumprelu")


class _JumpReLU(torch.autograd.Function):
    """z * H(z - theta). Gradient to z where it passes; to theta by the rectangle kernel (the paper's STE)."""

    @staticmethod
    def forward(ctx, z, threshold, bandwidth):
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return z * (z > threshold)

    @staticmethod
    def backward(ctx, grad):
        z, threshold = ctx.saved_tensors
        window = ((z - threshold).abs() < ctx.bandwidth / 2).to(z.dtype) / ctx.bandwidth
        grad_threshold = (-threshold * window * grad).sum(dim=1, keepdim=True)
        return grad * (z > threshold), grad_threshold, None


class _Step(torch.autograd.Function):
    """H(z - theta), the count of an L0 penalty: no gradient to z; to theta by the rectangle kernel."""

    @staticmethod
    def forward(ctx, z, threshold, bandwidth):
        ctx.save_for_backward(z, threshold)
        ctx.bandwidth = bandwidth
        return (z > threshold).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, threshold = ctx.saved_tensors
        window = ((z - threshold).abs() < ctx.bandwidth / 2).to(z.dtype) / ctx.bandwidth
        return None, (-window * grad).sum(dim=1, keepdim=True), None


class SparseAutoencoder(nn.Module):
    """n_instances independent sparse autoencoders of d_in -> d_sae -> d_in (see the module).

    Args:
        d_in: width of the activations read (> 0).
        d_sae: number of latents (> 0), usually more than d_in.
        n_instances: how many SAEs to hold (> 0), e.g. one per sparsity coefficient.
        kind: "relu", "topk" or "jumprelu".
        l1_coefficient: the L1 penalty of a "relu" SAE: one number >= 0 or one per instance.
        k: latents kept by a "topk" SAE: an int in [1, d_sae] or one per instance.
        l0_coefficient: the L0 penalty of a "jumprelu" SAE: one number >= 0 or one per instance.
        threshold: the starting threshold theta of a "jumprelu" SAE (> 0).
        bandwidth: the width of its straight-through kernel (> 0).
        seed: seed of the initialization: unit-norm random decoder rows, the encoder
            their transpose, zero biases.

    Parameters:
        W_enc: (n_instances, d_in, d_sae); W_dec: (n_instances, d_sae, d_in), row j = latent j's direction;
        b_enc: (n_instances, d_sae); b_dec: (n_instances, d_in);
        log_threshold: (n_instances, d_sae), "jumprelu" only (theta = exp(log_threshold)).

    For the trainer, n_features is d_in: it trains on data of that width, such as
    tms_tutorial.HiddenActivations of a toy model.
    """

    def __init__(self, d_in: int, d_sae: int, n_instances: int = 1, kind: str = "relu", l1_coefficient=0.0,
                 k=None, l0_coefficient=0.0, threshold: float = 0.1, bandwidth: float = 0.05, seed: int = 0) -> None:
        super().__init__()
        self.d_in = check_positive_int(d_in, "d_in")
        self.d_sae = check_positive_int(d_sae, "d_sae")
        self.n_instances = check_positive_int(n_instances, "n_instances")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
        self.kind = kind
        self.l1_coefficient = per_instance(l1_coefficient, "l1_coefficient", self.n_instances)
        self.l0_coefficient = per_instance(l0_coefficient, "l0_coefficient", self.n_instances)
        for name, used_by in (("l1_coefficient", "relu"), ("l0_coefficient", "jumprelu")):
            if kind != used_by and torch.as_tensor(getattr(self, name)).ne(0).any():
                raise ValueError(f"{name} is the penalty of a {used_by!r} SAE; a {kind!r} SAE does not use it")
        self.k = self._check_k(k)
        self.bandwidth = check_number(bandwidth, "bandwidth", positive=True)
        generator = torch.Generator().manual_seed(check_seed(seed))
        W_dec = torch.randn(n_instances, d_sae, d_in, generator=generator)
        W_dec /= W_dec.norm(dim=2, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.transpose(1, 2).clone())
        self.b_enc = nn.Parameter(torch.zeros(n_instances, d_sae))
        self.b_dec = nn.Parameter(torch.zeros(n_instances, d_in))
        if kind == "jumprelu":
            start = math.log(check_number(threshold, "threshold", positive=True))
            self.log_threshold = nn.Parameter(torch.full((n_instances, d_sae), start))

    def _check_k(self, k):
        if self.kind != "topk":
            if k is not None:
                raise ValueError(f"k is the size of a 'topk' SAE; a {self.kind!r} SAE does not use it")
            return None
        values = [k] * self.n_instances if isinstance(k, numbers.Integral) and not isinstance(k, bool) else k
        try:
            values = list(values)
        except TypeError:
            values = None
        if values is None or len(values) != self.n_instances or any(
                isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= v <= self.d_sae for v in values):
            raise ValueError(f"k must be an integer in [1, d_sae={self.d_sae}] or one per instance "
                             f"({self.n_instances}); got {k!r}")
        return torch.tensor([int(v) for v in values])

    @property
    def n_features(self) -> int:
        """The width of the data the SAE trains on (d_in), as the trainer asks every model."""
        return self.d_in

    @property
    def threshold(self) -> torch.Tensor:
        """theta of a "jumprelu" SAE: (n_instances, d_sae)."""
        if self.kind != "jumprelu":
            raise ValueError(f"only a 'jumprelu' SAE has a threshold; this one is {self.kind!r}")
        return self.log_threshold.exp()

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_sae={self.d_sae}, n_instances={self.n_instances}, kind={self.kind!r}"

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor; got {getattr(x, 'dtype', type(x).__name__)}")
        if x.dim() != 3 or x.shape[0] != self.n_instances or x.shape[2] != self.d_in:
            raise ValueError(f"x must have shape (n_instances={self.n_instances}, batch, d_in={self.d_in}); "
                             f"got {tuple(x.shape)}")
        return x.to(self.W_enc.dtype)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """z = W_enc^T (x - b_dec) + b_enc: (n_instances, batch, d_in) -> (n_instances, batch, d_sae)."""
        x = self._check_input(x)
        return torch.baddbmm(self.b_enc[:, None, :], x - self.b_dec[:, None, :], self.W_enc)

    def activate(self, z: torch.Tensor) -> torch.Tensor:
        """The latents f from pre-activations z, by the SAE's kind."""
        if self.kind == "relu":
            return torch.relu(z)
        if self.kind == "jumprelu":
            return _JumpReLU.apply(z, self.threshold[:, None, :], self.bandwidth)
        k_max = int(self.k.max())
        values, index = torch.topk(z, k_max, dim=2)
        keep = torch.arange(k_max, device=z.device) < self.k.to(z.device)[:, None, None]
        return torch.zeros_like(z).scatter(2, index, torch.relu(values) * keep)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """f = act(z): (n_instances, batch, d_in) -> (n_instances, batch, d_sae)."""
        return self.activate(self.pre_activations(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """x_hat = W_dec^T f + b_dec: (n_instances, batch, d_sae) -> (n_instances, batch, d_in)."""
        if not isinstance(f, torch.Tensor) or f.dim() != 3 or f.shape[0] != self.n_instances \
                or f.shape[2] != self.d_sae:
            raise ValueError(f"f must have shape (n_instances={self.n_instances}, batch, d_sae={self.d_sae}); got "
                             f"{tuple(getattr(f, 'shape', ())) or type(f).__name__}")
        f = f.to(self.W_dec.dtype)
        return torch.baddbmm(self.b_dec[:, None, :], f, self.W_dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction x_hat: (n_instances, batch, d_in) -> (n_instances, batch, d_in)."""
        return self.decode(self.encode(x))

    def sparsity_penalty(self, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The kind's penalty, averaged over the batch: (n_instances,)."""
        if self.kind == "relu":
            coefficient = torch.as_tensor(self.l1_coefficient, device=f.device)
            return coefficient * (f * self.W_dec.norm(dim=2)[:, None, :]).sum(dim=2).mean(dim=1)
        if self.kind == "jumprelu":
            coefficient = torch.as_tensor(self.l0_coefficient, device=f.device)
            return coefficient * _Step.apply(z, self.threshold[:, None, :], self.bandwidth).sum(dim=2).mean(dim=1)
        return torch.zeros(self.n_instances, device=f.device)

    def loss(self, x: torch.Tensor, target: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of sum_d I_d (target_d - x_hat_d)^2 plus the sparsity penalty: (n_instances,).

        For activations the importance is 1 in every direction (HiddenActivations gives ones).
        """
        z = self.pre_activations(x)
        f = self.activate(z)
        return reconstruction_loss(target, self.decode(f), importance) + self.sparsity_penalty(z, f)

    @torch.no_grad()
    def after_step(self) -> None:
        """Put every decoder row back at unit norm."""
        self.W_dec /= self.W_dec.norm(dim=2, keepdim=True).clamp_min(1e-8)
