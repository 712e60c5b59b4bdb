"""White-box PGD and FGSM attacks under l_inf and l_2 threat models.

Contract (as in torchattacks): the model is a black box mapping images in [0, 1] to logits; the
attacks keep no global state, compute input gradients with :func:`torch.autograd.grad` (nothing is
accumulated in the parameters' ``.grad``), run the model in eval mode and restore every submodule's
own train/eval flag afterwards, and work on whatever device and dtype ``x`` has.

Conventions:

* l_inf step: ``x + alpha * sign(grad)``; l_2 step: ``x + alpha * grad / ||grad||_2`` (per example).
  After every step the perturbation is projected onto the eps-ball (clamp for l_inf, radial
  rescaling for l_2) and the image is clipped to [0, 1]; clipping never leaves the ball.
* Random start: l_inf uniform in the cube; l_2 uniform in the ball (Gaussian direction, radius
  ``eps * U**(1/d)``, d = pixels per example), unlike torchattacks' ``eps * U`` which crowds starts
  near the centre. Both are then clipped to [0, 1].
* Loss: per-example cross-entropy. Untargeted attacks ascend it for the true label ``y``; targeted
  attacks descend it for the target label ``y``.
* ``keep_best=True``: every iterate (the start point included) of every restart is scored and, per
  example, the strongest is returned: a successful one (misclassified; targeted: classified as the
  target) beats an unsuccessful one, ties are broken by the higher objective (CE, or -CE when
  targeted). Hence an example counts as broken if *any* iterate of *any* restart broke it.
* Nesting: restart ``r`` draws its start from ``generator`` at its beginning and nothing else is
  random, so with equal seeds and equal ``alpha`` the iterates of (steps, restarts) are a prefix of
  those of (steps', restarts') for steps' >= steps, restarts' >= restarts; with ``keep_best`` the
  set of broken examples can only grow. :func:`fgsm` is PGD's first step, so PGD with
  ``alpha = eps``, ``steps >= 1``, the same start and ``keep_best`` breaks every example FGSM breaks
  and, per example, never ends with a lower objective than FGSM's point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FGSM", "NORMS", "PGD", "PGDResult", "eval_mode", "fgsm", "fgsm_rs", "nfgsm", "pgd", "pgd_with_info"]

NORMS: tuple[str, ...] = ("linf", "l2")
Model = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def eval_mode(model: Model, enabled: bool = True) -> Iterator[None]:
    """Put an ``nn.Module`` in eval mode for the block; restore each submodule's flag after."""
    if not enabled or not isinstance(model, nn.Module):
        yield
        return
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@dataclass
class PGDResult:
    """Output of :func:`pgd_with_info`.

    ``x_adv`` (N, ...) adversarial images; ``success`` (N,) bool, the returned point is
    misclassified (targeted: classified as the target); ``loss`` (N,) cross-entropy w.r.t. ``y`` at
    the returned point; ``trajectory`` (restarts, steps + 1) mean cross-entropy over the batch at
    each iterate (column 0 is the start point).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    loss: torch.Tensor
    trajectory: torch.Tensor


def _check(norm: str, eps: float, alpha: float, steps: int, restarts: int) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid norms: {', '.join(NORMS)}")
    if eps < 0 or alpha < 0:
        raise ValueError(f"eps and alpha must be >= 0, got eps={eps}, alpha={alpha}")
    if steps < 0 or restarts < 1:
        raise ValueError(f"need steps >= 0 and restarts >= 1, got {steps}, {restarts}")


def _l2(t: torch.Tensor) -> torch.Tensor:
    """Per-example l_2 norm, shaped to broadcast against ``t``."""
    return t.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (t.dim() - 1)))


def _project(x: torch.Tensor, x_adv: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """Project ``x_adv`` onto the eps-ball around ``x``, then clip to [0, 1]."""
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * torch.clamp(eps / _l2(delta).clamp_min(1e-12), max=1.0)
    return (x + delta).clamp(0.0, 1.0)


def _random_start(
    x: torch.Tensor, norm: str, eps: float, generator: torch.Generator | None
) -> torch.Tensor:
    """A uniformly random point of the eps-ball around ``x``, clipped to [0, 1]."""
    dev = generator.device if generator is not None else x.device
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, device=dev, dtype=dtype)
        delta = (2.0 * u - 1.0) * eps
    else:
        g = torch.randn(x.shape, generator=generator, device=dev, dtype=dtype)
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        r = torch.rand(shape, generator=generator, device=dev, dtype=dtype)
        d = x[0].numel()
        delta = g / _l2(g).clamp_min(1e-12) * (eps * r ** (1.0 / d))
    return _project(x, x + delta.to(device=x.device, dtype=x.dtype), norm, eps)


def _step(x_adv: torch.Tensor, grad: torch.Tensor, norm: str, alpha: float) -> torch.Tensor:
    if norm == "linf":
        return x_adv + alpha * grad.sign()
    return x_adv + alpha * grad / _l2(grad).clamp_min(1e-12)


def _run(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool,
    restarts: int,
    keep_best: bool,
    targeted: bool,
    generator: torch.Generator | None,
    use_eval: bool,
    final_eval: bool,
) -> tuple[torch.Tensor, PGDResult | None]:
    """Shared PGD loop. Returns the adversarial images and, if ``final_eval``, a PGDResult."""
    _check(norm, eps, alpha, steps, restarts)
    if restarts > 1 and not keep_best:
        raise ValueError("restarts > 1 needs keep_best=True (otherwise restarts are wasted)")
    x = x.detach()
    y = y.detach().to(x.device)
    n = x.shape[0]
    evaluate_all = keep_best or final_eval
    sdt = torch.float64 if x.dtype == torch.float64 else torch.float32  # exact for fp16/32 scores
    traj = torch.full((restarts, steps + 1), float("nan"), dtype=sdt, device=x.device)
    best_x = x.clone()
    best_succ = torch.zeros(n, dtype=torch.bool, device=x.device)
    best_obj = torch.full((n,), float("-inf"), dtype=sdt, device=x.device)
    best_ce = torch.full((n,), float("nan"), dtype=sdt, device=x.device)
    x_adv = x
    with eval_mode(model, use_eval):
        for r in range(restarts):
            x_adv = _random_start(x, norm, eps, generator) if random_start else x.clone()
            for t in range(steps + 1):
                last = t == steps
                if last and not evaluate_all:
                    break
                with torch.enable_grad() if not last else torch.no_grad():
                    xa = x_adv.clone().requires_grad_(not last)
                    logits = model(xa)
                    ce = F.cross_entropy(logits, y, reduction="none")
                    obj = -ce if targeted else ce
                    grad = None if last else torch.autograd.grad(obj.sum(), xa)[0]
                with torch.no_grad():
                    ce, obj = ce.detach().to(sdt), obj.detach().to(sdt)
                    traj[r, t] = ce.mean()
                    if evaluate_all:
                        pred = logits.detach().argmax(1)
                        succ = pred == y if targeted else pred != y
                        if keep_best:
                            better = (succ & ~best_succ) | ((succ == best_succ) & (obj > best_obj))
                        else:
                            better = torch.ones_like(succ) if last else torch.zeros_like(succ)
                        best_x[better] = x_adv[better]
                        best_succ = torch.where(better, succ, best_succ)
                        best_obj = torch.where(better, obj, best_obj)
                        best_ce = torch.where(better, ce, best_ce)
                    if grad is not None:
                        x_adv = _project(x, _step(x_adv, grad, norm, alpha), norm, eps)
    if not evaluate_all:
        return x_adv.detach(), None
    out = best_x if keep_best else x_adv.detach()
    return out, PGDResult(out, best_succ, best_ce, traj.cpu())


def pgd_with_info(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool = True,
    restarts: int = 1,
    keep_best: bool = True,
    targeted: bool = False,
    generator: torch.Generator | None = None,
    use_eval: bool = True,
) -> PGDResult:
    """:func:`pgd`, also returning per-example success and loss and the loss trajectory.

    The returned point is always scored (one extra forward pass when ``keep_best=False``).
    """
    _, res = _run(
        model, x, y, norm=norm, eps=eps, alpha=alpha, steps=steps, random_start=random_start,
        restarts=restarts, keep_best=keep_best, targeted=targeted, generator=generator,
        use_eval=use_eval, final_eval=True,
    )
    assert res is not None
    return res


def pgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool = True,
    restarts: int = 1,
    keep_best: bool = True,
    targeted: bool = False,
    generator: torch.Generator | None = None,
    use_eval: bool = True,
) -> torch.Tensor:
    """Projected gradient descent in the ``norm`` ball of radius ``eps`` (see module docstring).

    ``steps`` steps of size ``alpha`` from ``restarts`` starts (random if ``random_start``, else
    ``x``). ``keep_best=True`` returns per example the strongest iterate over all steps and
    restarts; ``keep_best=False`` (cheaper, for training) returns the last iterate and needs
    ``restarts == 1``. ``targeted=True`` pushes towards the labels ``y``. ``generator`` drives the
    random starts (global RNG if None). ``use_eval`` runs the model in eval mode (flags restored).
    """
    out, _ = _run(
        model, x, y, norm=norm, eps=eps, alpha=alpha, steps=steps, random_start=random_start,
        restarts=restarts, keep_best=keep_best, targeted=targeted, generator=generator,
        use_eval=use_eval, final_eval=False,
    )
    return out


def fgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    alpha: float | None = None,
    random_start: bool = False,
    targeted: bool = False,
    generator: torch.Generator | None = None,
    use_eval: bool = True,
) -> torch.Tensor:
    """Fast gradient (sign) method: one step of size ``alpha`` (default ``eps``), projected.

    l_inf: FGSM; l_2: the normalised-gradient "fast gradient method". With ``random_start`` and
    e.g. ``alpha = 1.25 * eps`` this is the FGSM-RS step of "Fast is better than free".
    Identical to ``pgd(..., steps=1, keep_best=False)``.
    """
    return pgd(
        model, x, y, norm=norm, eps=eps, alpha=eps if alpha is None else alpha, steps=1,
        random_start=random_start, restarts=1, keep_best=False, targeted=targeted,
        generator=generator, use_eval=use_eval,
    )


def _uniform(x: torch.Tensor, generator: torch.Generator | None, noise: torch.Tensor | None
             ) -> torch.Tensor:
    """Uniform draws in [0, 1) of ``x``'s shape: ``noise`` when given (pre-drawn by the engine), else
    drawn from ``generator`` on its device, as a linf PGD start draws them."""
    if noise is not None:
        return noise
    dev = generator.device if generator is not None else x.device
    return torch.rand(x.shape, generator=generator, device=dev).to(x.device, x.dtype)


def _sign_step(model: Model, x0: torch.Tensor, y: torch.Tensor, alpha: float | torch.Tensor
               ) -> torch.Tensor:
    """``alpha * sign(grad)`` of the summed cross-entropy at ``x0`` (the one step of FGSM-type
    training attacks; the model runs as the caller left it)."""
    x0 = x0.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x0).float(), y, reduction="sum")
    grad = torch.autograd.grad(loss, [x0])[0]
    return grad.sign() * torch.as_tensor(alpha, dtype=x0.dtype, device=x0.device)


def fgsm_rs(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float | torch.Tensor,
    alpha: float | torch.Tensor,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """FGSM-RS's training perturbation exactly as Wong, Rice and Kolter (2020) compute it (l_inf,
    their ``train_mnist.py``): a start ``delta0`` uniform in the eps-cube, *not* clipped to the
    [0, 1] box (the gradient is taken at ``x + delta0``, which may leave the box); one sign step
    ``delta = clamp(delta0 + alpha * sign(grad), -eps, eps)``; then ``x + delta`` clipped to [0, 1].
    Clipping the start first (as :func:`fgsm` with ``random_start`` does) would put half of the
    starts on MNIST's black background exactly at 0 and make the step there deterministic, the
    failure the random start exists to prevent. Without ``random_start``: plain FGSM from ``x``.

    ``noise``: the uniform draws in [0, 1) (the CUDA-graph engine pre-draws them); else drawn from
    ``generator`` as a linf PGD start is. The model runs as the caller left it; ``eps``/``alpha``
    may be 0-dim tensors.
    """
    eps_t = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    delta0 = (2.0 * _uniform(x, generator, noise) - 1.0) * eps_t if random_start else torch.zeros_like(x)
    with torch.no_grad():
        delta = delta0 + _sign_step(model, x + delta0, y, alpha)
        delta = torch.maximum(torch.minimum(delta, eps_t), -eps_t)
        return (x + delta).clamp_(0.0, 1.0)


def nfgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float | torch.Tensor,
    alpha: float | torch.Tensor,
    noise_mult: float = 2.0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """N-FGSM's training perturbation (de Jorge et al. 2022, l_inf): uniform noise in the
    ``noise_mult * eps`` cube, clipped to [0, 1]; one sign-gradient step of size ``alpha`` (eps in
    their recipe) from there; clipped to [0, 1] and *not* projected to the eps-ball, so the
    perturbation lies in the ``noise_mult * eps + alpha`` ball (3 eps by default) and the box.

    ``noise``: the uniform draws in [0, 1) (the CUDA-graph engine pre-draws them); else drawn from
    ``generator`` as a linf PGD start is. The model runs as the caller left it (training steps
    put it in eval mode); ``eps``/``alpha`` may be 0-dim tensors.
    """
    radius = torch.as_tensor(eps, dtype=x.dtype, device=x.device) * noise_mult
    with torch.no_grad():
        x0 = (x + (2.0 * _uniform(x, generator, noise) - 1.0) * radius).clamp_(0.0, 1.0)
        return (x0 + _sign_step(model, x0, y, alpha)).clamp_(0.0, 1.0)


@dataclass
class PGD:
    """Callable wrapper: ``PGD(model, norm=..., eps=..., alpha=..., steps=...)(x, y)``."""

    model: Model
    norm: str
    eps: float
    alpha: float
    steps: int
    random_start: bool = True
    restarts: int = 1
    keep_best: bool = True
    targeted: bool = False
    generator: torch.Generator | None = None
    use_eval: bool = True

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Attack a batch."""
        return pgd(
            self.model, x, y, norm=self.norm, eps=self.eps, alpha=self.alpha, steps=self.steps,
            random_start=self.random_start, restarts=self.restarts, keep_best=self.keep_best,
            targeted=self.targeted, generator=self.generator, use_eval=self.use_eval,
        )


@dataclass
class FGSM:
    """Callable wrapper: ``FGSM(model, norm=..., eps=...)(x, y)``."""

    model: Model
    norm: str
    eps: float
    alpha: float | None = None
    random_start: bool = False
    targeted: bool = False
    generator: torch.Generator | None = None
    use_eval: bool = True

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Attack a batch."""
        return fgsm(
            self.model, x, y, norm=self.norm, eps=self.eps, alpha=self.alpha,
            random_start=self.random_start, targeted=self.targeted, generator=self.generator,
            use_eval=self.use_eval,
        )
