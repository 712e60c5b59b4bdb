"""The fast step functions: adversarial-training iterations and PGD evaluation, graph-captured on CUDA.

A faster implementation of the *same* recipe as :mod:`tradeoff.adversarial.training` and
:mod:`tradeoff.adversarial.attacks` (same start distribution, step rule, projection, eval-mode attack,
update), built for the regime where the GPU waits on the host: the Madry CNN at batch 50 does
about 116 GFLOP per PGD-40 iteration but launches some 1,600 kernels, so a plain eager loop is
bound by per-op host overhead, not arithmetic.

What the engine does differently from the reference code, and why:

* **GPU-resident, sync-free.** The training set lives on the device; batch indices arrive as a
  device tensor (a slice of a device permutation) and are copied into a static index buffer;
  random starts are drawn from a generator on the device into static noise buffers; eps and the
  step size live in 0-dim device tensors (the eps warm-up changes them with ``fill_``, no
  re-capture); loss and accuracy counts accumulate on the device. Nothing in an iteration reads a
  value back to the host.
* **One CUDA graph per iteration** (:class:`TrainStep`): index gather, clean eval-mode pass, the
  whole PGD inner loop (unrolled: ``steps`` forward/backward passes), the train-mode update with a
  capturable (fused where available) optimizer, and the accumulators, captured once with
  ``torch.cuda.graph`` after a warm-up on a side stream and replayed; one host launch instead of
  ~1,600. The warm-up's effect on the weights and optimizer state is undone before the first real
  step, so the trajectory is the recipe's. A ragged batch (the last of an epoch, when the batch
  size does not divide the training set) runs the same body eagerly.
* **PGD evaluation** (:class:`FastPGD`): one restart (``steps + 1`` passes with keep-best
  scoring, as :func:`tradeoff.adversarial.attacks.pgd`) is one graph, replayed once per restart with fresh
  noise; smaller batches are padded to the captured size (padding rows are never read back and
  do not draw noise), so a whole evaluation needs one capture per attack setting.
* **Fewer kernels per step** (``fused_projection``, default on): for l_inf the step and the
  projection onto ``[max(x - eps, 0), min(x + eps, 1)]`` are one ``addcmul`` and one ``clamp``
  instead of seven ops. This is the same set (the eps-ball intersected with the box), computed
  in a different order, so iterates can differ from the reference in the last bit; with
  ``fused_projection=False`` the engine's eager path reproduces the reference bit for bit on the
  CPU (tested). For TRADES' projection (``min``/``max`` only) the fused form is exact.
* **Optional bf16 autocast and channels_last** (``EngineOptions``). bf16 here is CUDA-only and
  refused on the CPU; bf16 on a CPU with bf16 hardware is the eager step's
  (:class:`tradeoff.adversarial.training.EagerStep`, the CPU levers).

On the CPU every class runs the same body eagerly (no graph, no device generator needed), so
the CPU path is testable; :mod:`tradeoff.adversarial.training` runs its reference step
(``EagerStep``) for ``engine: eager``/``auto`` on the CPU, so CPU results are unchanged by this
module. Both steps compute the losses of :mod:`tradeoff.adversarial.objectives`; this module only
supplies their inner maximisation from pre-drawn noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tradeoff.adversarial.attacks import PGDResult, _check, _l2, eval_mode, fgsm_rs, nfgsm
from tradeoff.adversarial.objectives import (
    Parts,
    Recipe,
    Step,
    noise_kind,
    trades_attack,
    update,
)

__all__ = [
    "ENGINES",
    "EngineOptions",
    "FastPGD",
    "Recipe",
    "TrainStep",
    "autocast_precision",
    "launch_floor_ms",
    "madry_flops",
    "make_fast_optimizer",
    "resolve_engine",
]

ENGINES: tuple[str, ...] = ("auto", "eager", "graph")
Model = Callable[[torch.Tensor], torch.Tensor]


def resolve_engine(engine: str, device: torch.device) -> str:
    """``auto`` -> ``graph`` on CUDA, ``eager`` elsewhere; ``eager``/``graph`` are kept as given.

    ``graph`` on the CPU means this module's step functions, run eagerly (no graph exists there).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    if engine == "auto":
        return "graph" if device.type == "cuda" else "eager"
    return engine


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs (not what it computes).

    ``precision``: fp32 or bf16 (autocast of every forward pass; CUDA only). ``channels_last``:
    convert the model (in place) and inputs to NHWC. ``fused_projection``: see the module
    docstring. ``capture``: use a CUDA graph on CUDA (False: the same body, eagerly; ignored on
    the CPU). ``warmup``: eager warm-up runs on a side stream before capture. ``compile``:
    run the model's forward through ``torch.compile`` (experimental; CUDA benchmarks only).
    """

    precision: str = "fp32"
    channels_last: bool = False
    fused_projection: bool = True
    capture: bool = True
    warmup: int = 2
    compile: bool = False

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"EngineOptions.precision: valid: fp32, bf16 (got {self.precision!r})")
        if not isinstance(self.warmup, int) or self.warmup < 1:
            raise ValueError(f"EngineOptions.warmup: must be an int >= 1 (got {self.warmup!r})")


def autocast_precision(device: torch.device) -> str:
    """The precision an enclosing ``torch.autocast`` imposes on ``device`` (fp32 when none)."""
    if device.type != "cuda":
        return "fp32"
    try:
        enabled = torch.is_autocast_enabled("cuda")
        dtype = torch.get_autocast_dtype("cuda")
    except (TypeError, AttributeError):  # torch < 2.4: no device argument
        enabled, dtype = torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
    if not enabled:
        return "fp32"
    if dtype != torch.bfloat16:
        raise ValueError(f"the engine supports fp32 and bf16 autocast only (got {dtype})")
    return "bf16"


def _check_device(options: EngineOptions, device: torch.device) -> None:
    if options.precision == "bf16" and device.type != "cuda":
        raise ValueError("precision 'bf16' is supported on CUDA only (autocast); "
                         "use precision='fp32' on the CPU")


def _autocast_factory(options: EngineOptions, device: torch.device
                      ) -> Callable[[], AbstractContextManager[Any]]:
    """bf16: autocast without its weight-cast cache (which must be off inside a CUDA graph
    capture); fp32 on CUDA: autocast explicitly off, so that an enclosing one cannot leak in."""
    if options.precision == "bf16":
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16,
                                      cache_enabled=False)
    if device.type == "cuda":
        return lambda: torch.autocast(device_type="cuda", enabled=False)
    return nullcontext


def _use_graph(options: EngineOptions, device: torch.device) -> bool:
    return options.capture and device.type == "cuda"


def _forward_fn(model: Model, options: EngineOptions) -> Model:
    if options.compile:
        return torch.compile(model, dynamic=False)
    return model


def make_fast_optimizer(
    name: str, model: nn.Module, *, lr: float, momentum: float, weight_decay: float,
    device: torch.device,
) -> torch.optim.Optimizer:
    """The recipe's optimizer, built to be captured: Adam ``capturable`` (``fused`` on CUDA).

    On the CPU this is the plain optimizer (what :mod:`tradeoff.adversarial.training` builds).
    """
    params = list(model.parameters())
    if name == "adam":
        if device.type == "cuda":
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, capturable=True,
                                    fused=True)
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid: adam, sgd")


# --------------------------------------------------------------------------- shared math


class _Ball:
    """Start, step and projection of one batch, with eps/alpha as 0-dim device tensors.

    Formulas are those of :mod:`tradeoff.adversarial.attacks` (``fused=False``) or the fused l_inf form.
    """

    def __init__(self, x: torch.Tensor, norm: str, eps: torch.Tensor, alpha: torch.Tensor,
                 fused: bool) -> None:
        self.x, self.norm, self.eps, self.alpha = x, norm, eps, alpha
        self.fused = fused and norm == "linf"
        if self.fused:
            self.lo = (x - eps).clamp_(min=0.0)
            self.hi = (x + eps).clamp_(max=1.0)
        elif norm == "linf":
            self.neg_eps = -eps

    def project(self, x_adv: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return torch.clamp(x_adv, self.lo, self.hi)
        delta = x_adv - self.x
        if self.norm == "linf":
            delta = delta.clamp(self.neg_eps, self.eps)
        else:
            # eps / ||delta|| as the reference computes it (python float / tensor = reciprocal * eps)
            scale = _l2(delta).clamp_min(1e-12).reciprocal() * self.eps
            delta = delta * torch.clamp(scale, max=1.0)
        return (self.x + delta).clamp(0.0, 1.0)

    def start(self, noise: Sequence[torch.Tensor]) -> torch.Tensor:
        """Random start from pre-drawn noise (linf: uniform u; l2: Gaussian g and radius r)."""
        if self.norm == "linf":
            delta = (2.0 * noise[0] - 1.0) * self.eps
        else:
            g, r = noise
            d = self.x[0].numel()
            delta = g / _l2(g).clamp_min(1e-12) * (self.eps * r ** (1.0 / d))
        return self.project(self.x + delta)

    def advance(self, x_adv: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        if self.norm == "linf":
            if self.fused:
                return torch.clamp(torch.addcmul(x_adv, grad.sign(), self.alpha), self.lo,
                                   self.hi)
            return self.project(x_adv + self.alpha * grad.sign())
        return self.project(x_adv + self.alpha * grad / _l2(grad).clamp_min(1e-12))


def _noise_shapes(norm: str, kind: str, n: int, shape: Sequence[int]
                  ) -> list[tuple[str, tuple[int, ...]]]:
    """(distribution, shape) of each noise tensor one batch draws, in the reference order."""
    if kind == "trades":
        return [("normal", (n, *shape))]
    if kind == "none":
        return []
    if norm == "linf":
        return [("uniform", (n, *shape))]
    return [("normal", (n, *shape)), ("uniform", (n,) + (1,) * len(shape))]


def _draw(
    specs: Sequence[tuple[str, tuple[int, ...]]],
    generator: torch.Generator | None,
    device: torch.device,
    out: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Draw the batch's noise as the reference does (``torch.rand``/``torch.randn`` on the
    generator's device), into ``out`` (views of static buffers) when given."""
    gdev = generator.device if generator is not None else device
    res = []
    for i, (dist, shape) in enumerate(specs):
        fn = torch.rand if dist == "uniform" else torch.randn
        dst = out[i] if out is not None else None
        if dst is not None and gdev == dst.device:
            fn(shape, generator=generator, out=dst)
            res.append(dst)
            continue
        t = fn(shape, generator=generator, device=gdev, dtype=torch.float32)
        if dst is not None:
            dst.copy_(t)
            res.append(dst)
        else:
            res.append(t.to(device))
    return res


@contextmanager
def _side_stream_warmup(device: torch.device) -> Iterator[None]:
    if device.type != "cuda":
        yield
        return
    s = torch.cuda.Stream(device=device)
    s.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(s):
        yield
    torch.cuda.current_stream(device).wait_stream(s)


# --------------------------------------------------------------------------- training


class TrainStep(Step):
    """One training iteration of ``recipe`` (any objective of :data:`OBJECTIVES`) on device data,
    one CUDA graph per iteration on CUDA.

    The :class:`tradeoff.adversarial.objectives.Step` interface. ``x``, ``y``: the prepared
    training set (float (N, C, H, W) in [0, 1], int64 labels) on the model's device.
    ``generator``: random starts (a generator on that device avoids a host round trip; a CPU one
    works too). The objective's loss is :mod:`tradeoff.adversarial.objectives`'; this class
    supplies its inner maximisation from pre-drawn noise (static buffers inside the graph).
    """

    def __init__(
        self,
        recipe: Recipe,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None,
        options: EngineOptions | None = None,
    ) -> None:
        super().__init__(recipe, model, optimizer, x, y, generator)
        self.options = options or EngineOptions()
        _check_device(self.options, self.device)
        self.batch_size = int(recipe.batch_size)
        self._memory = torch.channels_last if self.options.channels_last else None
        if self._memory is not None:
            model.to(memory_format=self._memory)
        self._forward = _forward_fn(model, self.options)
        self._autocast = _autocast_factory(self.options, self.device)
        self._kind = noise_kind(recipe.objective, recipe.random_start)
        dev, f32 = self.device, torch.float32
        self.eps_t = torch.tensor(float(recipe.eps), dtype=f32, device=dev)
        self.alpha_t = torch.tensor(float(recipe.alpha), dtype=f32, device=dev)
        self._scale = 1.0
        self._graph: Any = None
        self._idx: torch.Tensor | None = None
        self._noise: list[torch.Tensor] = []
        self.captured = False

    # -- public
    def set_scale(self, scale: float) -> None:
        """Set the eps warm-up factor (eps and alpha = scale * the recipe's); no re-capture."""
        if scale != self._scale:
            self.eps_t.fill_(float(self.recipe.eps) * scale)
            self.alpha_t.fill_(float(self.recipe.alpha) * scale)
            self._scale = scale

    def step(self, idx: torch.Tensor, scale: float = 1.0) -> None:
        """One optimizer step on the examples ``idx`` (device int64), attack at ``scale``."""
        self.set_scale(scale)
        n = int(idx.numel())
        specs = _noise_shapes(self.recipe.norm, self._kind, n, self.x.shape[1:])
        if not _use_graph(self.options, self.device) or n != self.batch_size:
            noise = _draw(specs, self.generator, self.device)
            self._body(idx.to(self.device), noise, set_to_none=self._graph is None)
            return
        if self._graph is None:
            self._capture(idx)
        assert self._idx is not None
        self._idx.copy_(idx)
        _draw(specs, self.generator, self.device, out=self._noise)
        self._graph.replay()

    # -- internals
    def _snapshot(self) -> tuple[list[torch.Tensor], dict[int, dict[str, Any]]]:
        params = [p.detach().clone() for p in self.model.parameters()]
        state: dict[int, dict[str, Any]] = {}
        for p, st in self.optimizer.state.items():
            state[id(p)] = {k: v.clone() if isinstance(v, torch.Tensor) else v
                            for k, v in st.items()}
        return params, state

    @torch.no_grad()
    def _restore(self, snap: tuple[list[torch.Tensor], dict[int, dict[str, Any]]]) -> None:
        params, state = snap
        for p, saved in zip(self.model.parameters(), params, strict=True):
            p.copy_(saved)
        for q, st in self.optimizer.state.items():
            saved_st = state.get(id(q))
            for k, v in st.items():
                if not isinstance(v, torch.Tensor):
                    if saved_st is not None and k in saved_st:
                        st[k] = saved_st[k]
                elif saved_st is not None and k in saved_st:
                    v.copy_(saved_st[k])
                else:  # created by the warm-up: a fresh state is all zeros (Adam, SGD momentum)
                    v.zero_()
        self.reset_totals()

    def _capture(self, idx: torch.Tensor) -> None:
        dev = self.device
        self._idx = torch.zeros(self.batch_size, dtype=torch.int64, device=dev)
        self._idx.copy_(idx)
        specs = _noise_shapes(self.recipe.norm, self._kind, self.batch_size, self.x.shape[1:])
        self._noise = [torch.zeros(shape, dtype=torch.float32, device=dev) for _, shape in specs]
        snap = self._snapshot()
        with _side_stream_warmup(dev):
            for _ in range(self.options.warmup):
                self._body(self._idx, self._noise, set_to_none=True)
        self._restore(snap)
        torch.cuda.synchronize(dev)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body(self._idx, self._noise, set_to_none=True)
        self._graph = graph
        self.captured = True

    def _body(self, idx: torch.Tensor, noise: Sequence[torch.Tensor], *, set_to_none: bool
              ) -> None:
        xb = self.x.index_select(0, idx)
        yb = self.y.index_select(0, idx)
        if self._memory is not None:
            xb = xb.contiguous(memory_format=self._memory)
        parts = Parts(self.model, self._forward, self._autocast,
                      lambda xa, ya: self._inner(xa, ya, noise), self.recipe.trades_beta)
        out = self.objective.loss(parts, xb, yb)
        update(self.optimizer, out.loss, set_to_none=set_to_none)
        self._totals.add(out, xb.shape[0])

    def _inner(self, x: torch.Tensor, y: torch.Tensor, noise: Sequence[torch.Tensor]
               ) -> torch.Tensor:
        """The objective's inner maximisation, from the pre-drawn ``noise``."""
        if self.objective.inner == "kl":
            return trades_attack(self._forward, x, eps=self.eps_t, alpha=self.alpha_t,
                                 steps=self.recipe.steps, noise=noise[0],
                                 autocast=self._autocast)
        if self.objective.inner == "nfgsm":
            with self._autocast():
                return nfgsm(self._forward, x, y, eps=self.eps_t, alpha=self.alpha_t,
                             noise_mult=self.recipe.nfgsm_noise, noise=noise[0])
        if self.objective.inner == "fgsm_rs":
            with self._autocast():
                return fgsm_rs(self._forward, x, y, eps=self.eps_t, alpha=self.alpha_t,
                               random_start=self._kind == "start",
                               noise=noise[0] if noise else None)
        return self._pgd(x, y, noise)

    def _pgd(self, x: torch.Tensor, y: torch.Tensor, noise: Sequence[torch.Tensor]
             ) -> torch.Tensor:
        """Madry's inner loop: ``attacks.pgd(..., restarts=1, keep_best=False)``."""
        with torch.no_grad():
            ball = _Ball(x, self.recipe.norm, self.eps_t, self.alpha_t,
                         self.options.fused_projection)
            x_adv = ball.start(noise) if self._kind == "start" else x.clone()
        for _ in range(self.recipe.steps):
            x_adv.requires_grad_(True)
            with torch.enable_grad(), self._autocast():
                loss = F.cross_entropy(self._forward(x_adv), y, reduction="sum")
            grad = torch.autograd.grad(loss, [x_adv])[0]
            with torch.no_grad():
                x_adv = ball.advance(x_adv.detach(), grad)
        return x_adv.detach()


# --------------------------------------------------------------------------- evaluation


class FastPGD:
    """Untargeted PGD with restarts and keep-best, as :func:`tradeoff.adversarial.attacks.pgd_with_info`.

    Every iterate (the start included) of every restart is scored and, per example, the strongest
    kept (a misclassified point beats a correct one, then the higher cross-entropy), so an
    example counts as robust only if every iterate of every restart leaves it correct. Restart
    ``r`` draws its start from ``generator`` as the reference does (same calls, same shapes), so
    on one device the starts are the reference's. On CUDA one restart is a CUDA graph of the
    captured batch size (the first batch's, grown if a larger one comes), replayed per restart;
    smaller batches are padded (on the CPU too, where the same body runs eagerly, so padding is
    tested there). The model runs in eval mode (flags restored).
    """

    def __init__(
        self,
        model: Model,
        *,
        norm: str,
        eps: float,
        alpha: float,
        steps: int,
        random_start: bool = True,
        restarts: int = 1,
        trajectory: bool = False,
        options: EngineOptions | None = None,
    ) -> None:
        _check(norm, eps, alpha, steps, restarts)  # the same checks and messages as attacks.pgd
        self.model, self.norm, self.eps, self.alpha = model, norm, float(eps), float(alpha)
        self.steps, self.random_start, self.restarts = int(steps), random_start, int(restarts)
        self.trajectory = trajectory
        self.options = options or EngineOptions()
        self._forward = _forward_fn(model, self.options)
        self._graph: Any = None
        self._cap = 0
        self.captures = 0

    def _kind(self) -> str:
        return "start" if self.random_start else "none"

    def _alloc(self, n: int, like: torch.Tensor, device: torch.device) -> None:
        f32 = torch.float32
        self._autocast = _autocast_factory(self.options, device)
        shape = tuple(like.shape[1:])
        self._x = torch.zeros((n, *shape), dtype=like.dtype, device=device)
        self._y = torch.zeros(n, dtype=torch.int64, device=device)
        self._noise = [torch.zeros(s, dtype=f32, device=device)
                       for _, s in _noise_shapes(self.norm, self._kind(), n, shape)]
        sdt = torch.float64 if like.dtype == torch.float64 else f32
        self._best_x = torch.zeros_like(self._x)
        self._best_succ = torch.zeros(n, dtype=torch.bool, device=device)
        self._best_obj = torch.full((n,), float("-inf"), dtype=sdt, device=device)
        self._valid = torch.zeros(n, dtype=sdt, device=device)
        self._n_valid = torch.ones((), dtype=sdt, device=device)
        self._traj = torch.zeros(self.steps + 1, dtype=sdt, device=device)
        self._eps_t = torch.tensor(self.eps, dtype=like.dtype, device=device)
        self._alpha_t = torch.tensor(self.alpha, dtype=like.dtype, device=device)
        self._cap = n

    def _restart(self) -> None:
        """One restart on the static buffers: start, ``steps`` steps, every iterate scored."""
        x, y = self._x, self._y
        if self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ball = _Ball(x, self.norm, self._eps_t, self._alpha_t, self.options.fused_projection)
            x_adv = ball.start(self._noise) if self.random_start else x.clone()
        sdt = self._best_obj.dtype
        for t in range(self.steps + 1):
            last = t == self.steps
            if not last:
                x_adv.requires_grad_(True)
            with torch.enable_grad() if not last else torch.no_grad(), self._autocast():
                logits = self._forward(x_adv)
                ce = F.cross_entropy(logits, y, reduction="none")
            grad = None if last else torch.autograd.grad(ce.sum(), [x_adv])[0]
            with torch.no_grad():
                xd = x_adv.detach()
                ce = ce.detach().to(sdt)
                if self.trajectory:
                    self._traj[t] = (ce * self._valid).sum() / self._n_valid
                succ = logits.detach().argmax(1) != y
                better = (succ & ~self._best_succ) | ((succ == self._best_succ)
                                                       & (ce > self._best_obj))
                torch.where(better.view(-1, *([1] * (xd.dim() - 1))), xd, self._best_x,
                            out=self._best_x)
                torch.where(better, succ, self._best_succ, out=self._best_succ)
                torch.where(better, ce, self._best_obj, out=self._best_obj)
                if grad is not None:
                    x_adv = ball.advance(xd, grad)

    def _capture(self) -> None:
        dev = self._x.device
        with _side_stream_warmup(dev):
            for _ in range(self.options.warmup):
                self._restart()
        torch.cuda.synchronize(dev)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._restart()
        self._graph = graph
        self.captures += 1

    def __call__(self, x: torch.Tensor, y: torch.Tensor,
                 generator: torch.Generator | None = None) -> PGDResult:
        """Attack one batch; returns x_adv, success, loss (CE at x_adv) and the trajectory."""
        x = x.detach()
        dev = x.device
        _check_device(self.options, dev)
        if x.shape[0] == 0:
            return PGDResult(x.clone(), torch.zeros(0, dtype=torch.bool, device=dev),
                             torch.zeros(0, device=dev),
                             torch.full((self.restarts, self.steps + 1), float("nan")))
        y = y.detach().to(dev)
        n = x.shape[0]
        graph = _use_graph(self.options, dev)
        if self._cap == 0 or n > self._cap or self._x.dtype != x.dtype or self._x.device != dev:
            self._graph = None  # first call, or a larger batch: (capture again) at its size
            self._alloc(n, x, dev)
        cap = self._cap
        with torch.no_grad():
            self._x[:n].copy_(x)
            self._y[:n].copy_(y)
            if n < cap:
                self._x[n:].zero_()
                self._y[n:].zero_()
            self._valid.zero_()
            self._valid[:n] = 1.0
            self._n_valid.fill_(max(n, 1))
        specs = _noise_shapes(self.norm, self._kind(), n, x.shape[1:])
        traj = torch.full((self.restarts, self.steps + 1), float("nan"), dtype=self._traj.dtype,
                          device=dev)
        with eval_mode(self.model):
            if graph and self._graph is None:
                self._capture()
            self._best_x.copy_(self._x)
            self._best_succ.zero_()
            self._best_obj.fill_(float("-inf"))
            for r in range(self.restarts):
                _draw(specs, generator, dev, out=[b[:n] for b in self._noise])
                if graph:
                    self._graph.replay()
                else:
                    self._restart()
                if self.trajectory:
                    traj[r] = self._traj
        out = self._best_x[:n].clone()
        return PGDResult(out, self._best_succ[:n].clone(), self._best_obj[:n].clone(),
                         traj.cpu())


def madry_flops(batch: int, steps: int) -> dict[str, float]:
    """Analytic FLOPs (2 per multiply-add) of one Madry-CNN PGD training iteration.

    Per example: forward F = conv1 + conv2 + fc1 + fc2; an input-gradient backward (attack
    step) about F (data gradients only; conv1's data gradient is not needed but autograd
    computes it); the update's backward 2F (data and weight gradients). One iteration: one
    clean forward, ``steps`` x (F + F), the update F + 2F.
    """
    conv1 = 28 * 28 * 32 * (1 * 5 * 5) * 2
    conv2 = 14 * 14 * 64 * (32 * 5 * 5) * 2
    fc1 = 7 * 7 * 64 * 1024 * 2
    fc2 = 1024 * 10 * 2
    fwd = float(conv1 + conv2 + fc1 + fc2)
    per_example = fwd + steps * 2 * fwd + 3 * fwd
    params = 32 * 25 + 32 + 64 * 32 * 25 + 64 + 3136 * 1024 + 1024 + 1024 * 10 + 10
    act = 32 * 28 * 28 + 32 * 14 * 14 + 64 * 14 * 14 + 64 * 7 * 7 + 1024 + 10  # floats/example
    passes = 1 + 2 * steps + 3  # weight reads: one per forward or backward pass
    # weights read once per pass; activations written and read back (~3 accesses) per pass;
    # the update: weight gradients written, Adam reads/writes param, grad, two moments (~7x)
    bytes_ = 4.0 * (params * passes + batch * act * 3 * passes + 7 * params)
    return {"forward_flops_per_example": fwd, "flops": per_example * batch, "bytes": bytes_,
            "params": float(params), "weight_bytes": 4.0 * params}


def launch_floor_ms(kernels: int, per_launch_us: float) -> float:
    """The launch-latency floor of ``kernels`` launches at ``per_launch_us`` each, in ms."""
    return kernels * per_launch_us / 1000.0

