"""Training objectives, each defined once: standard, Madry's PGD and TRADES.

An objective is the loss of one batch given the model and the objective's *inner maximisation*
(the attack that crafts the batch's adversarial examples). Both training steps, the eager one
(:class:`tradeoff.adversarial.training.EagerStep`) and the CUDA-graph one
(:class:`tradeoff.adversarial.engine.TrainStep`), call the functions below; they differ only in
how they run the inner maximisation (where the random starts come from, how the projection is
computed) and in how the step is launched.

* ``standard``: cross-entropy of the clean batch (train mode).
* ``pgd`` (Madry et al. 2018): the attack (``inner="ce"``: PGD ascent of the cross-entropy, the
  last iterate of one start) runs in eval mode; the loss is the cross-entropy at the adversarial
  batch (train mode). The clean accuracy is measured in eval mode before the attack.
* ``fgsm`` (Wong, Rice and Kolter 2020, "Fast is better than free", l_inf): Madry's loss at the
  FGSM-RS point (:func:`tradeoff.adversarial.attacks.fgsm_rs`: a uniform start in the eps-cube, not
  clipped to the box, one step of ``alpha``, 1.25 eps in their recipe, projected to the ball and the
  box; ``random_start: false`` is plain FGSM, the known failure).
* ``nfgsm`` (de Jorge et al. 2022, l_inf): Madry's loss at the N-FGSM point
  (:func:`tradeoff.adversarial.attacks.nfgsm`: noise of ``nfgsm_noise`` eps, one step of ``alpha``,
  no projection to the eps-ball).
* ``trades`` (Zhang et al. 2019, l_inf only as in the reference ``trades.py``): the attack
  (``inner="kl"``, :func:`trades_attack`) runs in eval mode; the loss is
  ``CE(f(x), y) + beta * KL(f(x) || f(x_adv))`` (batch means, gradient through both arms).

Adding an objective: one function below, one entry of :data:`OBJECTIVES` (the config schema's
``recipe.objective`` enum is tested against it), and its test in ``tests/test_engine.py``
(the parametrised eager-vs-engine equality test).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from tradeoff.adversarial.attacks import NORMS

__all__ = [
    "OBJECTIVES",
    "Objective",
    "Outcome",
    "Parts",
    "Recipe",
    "Step",
    "Totals",
    "noise_kind",
    "trades_attack",
    "update",
]

Model = Callable[[torch.Tensor], torch.Tensor]
Autocast = Callable[[], AbstractContextManager[Any]]
InnerMax = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Outcome(NamedTuple):
    """One batch's objective: ``loss`` (batch mean, differentiable), the clean-correct count and
    the count correct at the training attack's examples (None without an attack)."""

    loss: torch.Tensor
    clean_correct: torch.Tensor
    adv_correct: torch.Tensor | None


@dataclass(frozen=True)
class Parts:
    """What an objective needs from the step: the model (for its train/eval flag), its forward
    function (the engine may compile it), the autocast of every forward pass, the step's
    implementation of the objective's inner maximisation, and TRADES' beta."""

    model: nn.Module
    forward: Model
    autocast: Autocast
    attack: InnerMax
    trades_beta: float = 1.0


def _standard(p: Parts, x: torch.Tensor, y: torch.Tensor) -> Outcome:
    p.model.train()
    with p.autocast():
        logits = p.forward(x).float()
        loss = F.cross_entropy(logits, y)
    return Outcome(loss, (logits.detach().argmax(1) == y).sum(), None)


def _pgd(p: Parts, x: torch.Tensor, y: torch.Tensor) -> Outcome:
    p.model.eval()
    with torch.no_grad(), p.autocast():
        clean_correct = (p.forward(x).argmax(1) == y).sum()
    x_adv = p.attack(x, y)
    p.model.train()
    with p.autocast():
        logits = p.forward(x_adv).float()
        loss = F.cross_entropy(logits, y)
    return Outcome(loss, clean_correct, (logits.detach().argmax(1) == y).sum())


def _trades(p: Parts, x: torch.Tensor, y: torch.Tensor) -> Outcome:
    p.model.eval()
    x_adv = p.attack(x, y)
    p.model.train()
    with p.autocast():
        logits_nat = p.forward(x).float()
        logits_adv = p.forward(x_adv).float()
        loss_nat = F.cross_entropy(logits_nat, y)
        loss_rob = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_nat, dim=1),
                            reduction="batchmean")
        loss = loss_nat + p.trades_beta * loss_rob
    return Outcome(loss, (logits_nat.detach().argmax(1) == y).sum(),
                   (logits_adv.detach().argmax(1) == y).sum())


@dataclass(frozen=True)
class Objective:
    """A registry entry. ``inner``: the inner maximisation the step must provide ("none"; "ce":
    Madry's PGD on the cross-entropy; "kl": :func:`trades_attack`; "fgsm_rs":
    :func:`tradeoff.adversarial.attacks.fgsm_rs`; "nfgsm":
    :func:`tradeoff.adversarial.attacks.nfgsm`). ``norms``: the threat models implemented.
    ``needs_random_start``: the attack is meaningless from ``x`` itself. ``max_steps``: the most
    attack steps the objective takes (FGSM-type objectives: one)."""

    loss: Callable[[Parts, torch.Tensor, torch.Tensor], Outcome]
    inner: str
    norms: tuple[str, ...] = NORMS
    needs_random_start: bool = False
    max_steps: int | None = None


OBJECTIVES: dict[str, Objective] = {
    "standard": Objective(_standard, inner="none"),
    "pgd": Objective(_pgd, inner="ce"),
    "fgsm": Objective(_pgd, inner="fgsm_rs", norms=("linf",), max_steps=1),
    "nfgsm": Objective(_pgd, inner="nfgsm", norms=("linf",), max_steps=1),
    "trades": Objective(_trades, inner="kl", norms=("linf",), needs_random_start=True),
}


def trades_attack(
    forward: Model,
    x: torch.Tensor,
    *,
    eps: float | torch.Tensor,
    alpha: float | torch.Tensor,
    steps: int,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    autocast: Autocast = nullcontext,
) -> torch.Tensor:
    """TRADES' inner maximisation (reference ``trades.py``, l_inf): PGD on KL(f(x) || f(x')).

    Start ``x + 0.001 * noise`` (unclipped; ``noise`` standard normal, drawn from ``generator``
    on the generator's device when not given), then ``steps`` sign-gradient ascent steps of size
    ``alpha`` on the summed KL, each projected onto the eps-ball and [0, 1] (one clamp to
    ``[max(x - eps, 0), min(x + eps, 1)]``, which equals the reference's min/max then clip
    exactly). ``eps``/``alpha`` may be 0-dim tensors (the engine's warm-up changes them in place).
    """
    if noise is None:
        dev = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, device=dev).to(x.device, x.dtype)
    with torch.no_grad(), autocast():
        p_nat = F.softmax(forward(x).float(), dim=1)
    with torch.no_grad():
        eps_t = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
        alpha_t = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
        lo = (x - eps_t).clamp_(min=0.0)
        hi = (x + eps_t).clamp_(max=1.0)
        x_adv = x + 0.001 * noise
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad(), autocast():
            log_q = F.log_softmax(forward(x_adv).float(), dim=1)
            loss_kl = F.kl_div(log_q, p_nat, reduction="sum")
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        with torch.no_grad():
            x_adv = torch.clamp(torch.addcmul(x_adv.detach(), grad.sign(), alpha_t), lo, hi)
    return x_adv.clamp(0.0, 1.0).detach()


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, *, set_to_none: bool = True
           ) -> None:
    """One optimizer step on ``loss``."""
    optimizer.zero_grad(set_to_none=set_to_none)
    loss.backward()
    optimizer.step()


class Totals:
    """Device accumulators of an epoch: summed loss, clean-correct and adversarial-correct counts
    (nothing is read back to the host until :meth:`get`)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        self.clean = torch.zeros((), dtype=torch.int64, device=device)
        self.adv = torch.zeros((), dtype=torch.int64, device=device)

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.clean.zero_()
        self.adv.zero_()

    @torch.no_grad()
    def add(self, out: Outcome, n: int) -> None:
        self.loss_sum.add_(out.loss.detach() * n)
        self.clean.add_(out.clean_correct)
        if out.adv_correct is not None:
            self.adv.add_(out.adv_correct)

    def get(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.loss_sum.clone(), self.clean.clone(), self.adv.clone()


def noise_kind(objective: str, random_start: bool) -> str:
    """The random draws of one batch's attack: "none", "start" (a PGD start) or "trades"."""
    inner = OBJECTIVES[objective].inner
    if inner == "kl":
        return "trades"
    if inner == "nfgsm" or (inner == "fgsm_rs" and random_start):
        return "start"  # its noise is a linf start's draw (uniform, image-shaped)
    return "start" if inner == "ce" and random_start else "none"



class Recipe(Protocol):
    """The fields of :class:`tradeoff.adversarial.training.TrainConfig` a training step reads."""

    # read-only properties, so that a frozen dataclass (TrainConfig) satisfies the protocol
    @property
    def objective(self) -> str: ...
    @property
    def norm(self) -> str: ...
    @property
    def eps(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def steps(self) -> int: ...
    @property
    def random_start(self) -> bool: ...
    @property
    def trades_beta(self) -> float: ...
    @property
    def nfgsm_noise(self) -> float: ...
    @property
    def batch_size(self) -> int: ...


class Step(ABC):
    """The interface of a training step (eager: :class:`tradeoff.adversarial.training.EagerStep`;
    CUDA graph: :class:`tradeoff.adversarial.engine.TrainStep`).

    Built on the prepared training set ``x``, ``y`` (on the model's device) and the attack's
    ``generator``; ``step(idx, scale)`` takes one optimizer step on the examples ``idx`` (a device
    int64 tensor) with the attack's eps and step size multiplied by ``scale`` (the eps warm-up);
    ``totals()`` gives the summed loss, clean-correct and adversarial-correct counts (device
    tensors) since ``reset_totals()``.
    """

    def __init__(self, recipe: Recipe, model: nn.Module, optimizer: torch.optim.Optimizer,
                 x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> None:
        if recipe.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {recipe.objective!r}; "
                             f"valid: {', '.join(OBJECTIVES)}")
        if recipe.norm not in NORMS:
            raise ValueError(f"unknown norm {recipe.norm!r}")
        self.recipe, self.model, self.optimizer = recipe, model, optimizer
        self.objective = OBJECTIVES[recipe.objective]
        self.x, self.y, self.generator = x, y, generator
        self.device = x.device
        self._totals = Totals(x.device)

    @abstractmethod
    def step(self, idx: torch.Tensor, scale: float = 1.0) -> None:
        """One optimizer step on the examples ``idx``, the attack at ``scale``."""

    def reset_totals(self) -> None:
        """Zero the device accumulators (start of an epoch)."""
        self._totals.reset()

    def totals(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(summed loss, #clean correct, #adversarial correct) since the last reset (copies)."""
        return self._totals.get()
