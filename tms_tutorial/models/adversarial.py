"""The toy model trained against the paper's attack: adversarial training as a loss the model owns.

``AdversarialToyModel(..., attack=a)`` is a ToyModel whose ``loss`` first perturbs every
sample of the batch with the analytic attack of tms_tutorial.adversarial, of norm a times
the batch's mean input norm (per instance), and then scores the output on the perturbed
input against the clean target. The attack is recomputed from the current weights at
every step and treated as a constant of the step (no gradient flows through the choice of
direction), as in the usual adversarial training. The trainer is the plain ``train``; the
fast routes of tms_tutorial.fast serve only the plain ToyModel, so this one trains by
autograd. attack = 0 is the plain ToyModel's loss.
"""

from __future__ import annotations

import torch

from .. import adversarial
from .toy import ToyModel


class AdversarialToyModel(ToyModel):
    """ToyModel trained on adversarially perturbed inputs.

    Args (beyond ToyModel's):
        attack: the attack's norm relative to the batch's mean input norm: a number >= 0,
            or one per instance (shape (n_instances,)), so a sweep of sizes trains at once.
    """

    def __init__(self, n_features: int, n_hidden: int, n_instances: int = 1, activation: str = "relu",
                 seed: int = 0, l1_coefficient: float = 0.0, attack=0.1) -> None:
        super().__init__(n_features, n_hidden, n_instances, activation, seed, l1_coefficient)
        size = torch.as_tensor(attack, dtype=torch.float32)
        if size.dim() == 0:
            size = size.expand(n_instances).clone()
        if size.shape != (n_instances,) or not torch.isfinite(size).all() or (size < 0).any():
            raise ValueError(f"attack must be a number >= 0 or one per instance, shape ({n_instances},), "
                             f"each >= 0; got {attack!r}")
        self.register_buffer("attack", size)

    def extra_repr(self) -> str:
        sizes = self.attack.unique()
        shown = f"{sizes.item():g}" if len(sizes) == 1 else f"{len(sizes)} sizes"
        return f"{super().extra_repr()}, attack={shown}"

    def loss(self, x: torch.Tensor, target: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
        """The ToyModel's loss on x + delta against the clean target, delta the analytic attack: (n_instances,)."""
        x = self.check_input(x)
        if bool((self.attack > 0).any()):
            epsilon = self.attack * x.norm(dim=2).mean(dim=1)
            delta, _ = adversarial.analytic_attack(self, x, target, importance, epsilon.detach())
            x = x + delta
        return super().loss(x, target, importance)
