"""Clean and robust accuracy over a grid of attacks, and sanity checks against gradient masking.

Robust accuracy counts an example as robust only if it is classified correctly both clean and at
the attack's output; only clean-correct examples are attacked. PGD uses ``keep_best``, so an
example survives only if every iterate of every restart leaves it correct. Each grid entry gets a
fresh generator seeded with ``seed`` and the same batches, so entries that differ only in ``steps``
(with an explicit ``alpha``) or ``restarts`` are nested: more never reports higher accuracy.

``engine`` (auto, eager, graph): PGD runs on :class:`tradeoff.adversarial.engine.FastPGD` (one CUDA graph per
restart, same starts and semantics) when it resolves to ``graph`` (``auto``: on CUDA), else on
:func:`tradeoff.adversarial.attacks.pgd`; the CPU path is unchanged. FGSM and AutoAttack always use their own
code. The fast attack runs at the precision of an enclosing ``torch.autocast`` (fp32 or bf16).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from tradeoff.adversarial.attacks import (
    NORMS,
    Model,
    PGDResult,
    eval_mode,
    fgsm,
    pgd,
    pgd_with_info,
)
from tradeoff.adversarial.engine import EngineOptions, FastPGD, autocast_precision, resolve_engine

__all__ = [
    "ATTACKS",
    "DEFAULT_LARGE_EPS",
    "accuracy",
    "evaluate_grid",
    "evaluate_grid_outcomes",
    "normalize_spec",
    "predict",
    "run_attack",
    "sanity_checks",
]

ATTACKS: tuple[str, ...] = ("clean", "fgsm", "pgd", "autoattack")
DEFAULT_LARGE_EPS: dict[str, float] = {"linf": 0.5, "l2": 6.0}
_COMMON = {"attack", "norm", "eps", "steps", "restarts", "alpha", "random_start"}
_KEYS = {"clean": _COMMON, "fgsm": _COMMON, "pgd": _COMMON,
         "autoattack": _COMMON | {"n_queries", "version"}}


def _device_of(model: Model) -> torch.device:
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))


def predict(
    model: Model,
    x: torch.Tensor,
    *,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Predicted labels (CPU, int64) of ``model`` in eval mode, batch by batch."""
    dev = torch.device(device) if device is not None else _device_of(model)
    out = []
    with torch.no_grad(), eval_mode(model):
        for sl in _batches(len(x), batch_size):
            out.append(model(x[sl].to(dev)).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def accuracy(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> float:
    """Clean accuracy of ``model`` on (x, y)."""
    if len(x) == 0:
        return float("nan")
    pred = predict(model, x, batch_size=batch_size, device=device)
    return (pred == y.cpu()).float().mean().item()


def normalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an attack spec and fill defaults.

    Idempotent. Keys: ``attack`` in ATTACKS (other keys of a "clean" spec are ignored);
    ``norm`` ("linf"/"l2", case-insensitive); ``eps``;
    fgsm: ``alpha`` (default eps), ``random_start`` (False);
    pgd: ``steps`` (40), ``restarts`` (1), ``alpha`` (2.5 * eps / steps), ``random_start`` (True);
    autoattack: ``version`` ("standard"), ``steps`` (100: iterations of APGD-CE, APGD-T and FAB-T
    as in the original AutoAttack; torchattacks' own default is 10), ``n_queries`` (Square, 5000).
    """
    attack = str(spec.get("attack", "")).lower()
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {spec.get('attack')!r}; valid: {', '.join(ATTACKS)}")
    extra = set(spec) - _KEYS[attack]
    if extra:
        raise ValueError(f"unknown keys for {attack}: {sorted(extra)}")
    if attack == "clean":
        return {"attack": "clean", "norm": "none", "eps": 0.0, "steps": 0, "restarts": 0,
                "alpha": 0.0}
    norm = str(spec["norm"]).lower()
    if norm not in NORMS:
        raise ValueError(f"unknown norm {spec['norm']!r}; valid norms: {', '.join(NORMS)}")
    eps = float(spec["eps"])
    out: dict[str, Any] = {"attack": attack, "norm": norm, "eps": eps}
    if attack == "fgsm":
        alpha = spec.get("alpha")
        out.update(steps=1, restarts=1, alpha=eps if alpha is None else float(alpha),
                   random_start=bool(spec.get("random_start", False)))
    elif attack == "pgd":
        steps = int(spec.get("steps", 40))
        alpha = spec.get("alpha")
        out.update(steps=steps, restarts=int(spec.get("restarts", 1)),
                   alpha=2.5 * eps / max(steps, 1) if alpha is None else float(alpha),
                   random_start=bool(spec.get("random_start", True)))
    else:
        out.update(steps=int(spec.get("steps", 100)), restarts=1, alpha=float("nan"),
                   version=str(spec.get("version", "standard")),
                   n_queries=int(spec.get("n_queries", 5000)))
    return out


def _autoattack(model: Model, x: torch.Tensor, y: torch.Tensor, s: Mapping[str, Any],
                seed: int) -> torch.Tensor:
    import torchattacks

    if not isinstance(model, nn.Module):
        raise TypeError("autoattack needs an nn.Module")
    aa = torchattacks.AutoAttack(model, norm={"linf": "Linf", "l2": "L2"}[s["norm"]],
                                 eps=s["eps"], version=s["version"], n_classes=10, seed=seed)
    for sub in aa._autoattack.attacks:  # torchattacks builds APGD/APGDT/FAB with steps=10
        if hasattr(sub, "steps"):
            sub.steps = s["steps"]
        if hasattr(sub, "n_queries"):
            sub.n_queries = s["n_queries"]
    # torchattacks reseeds the global RNGs and calls .backward() (filling the parameters' .grad):
    # contain both so that the caller's state is unchanged.
    params = list(model.parameters())
    grads = [p.grad for p in params]
    cuda = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            return aa(x, y).detach()
    finally:
        for p, g in zip(params, grads, strict=False):
            p.grad = g


def _fast_pgd(model: Model, s: Mapping[str, Any], device: torch.device, *,
              trajectory: bool = False) -> FastPGD:
    """The engine's PGD for a normalised pgd spec, at the enclosing autocast's precision."""
    return FastPGD(model, norm=s["norm"], eps=s["eps"], alpha=s["alpha"], steps=s["steps"],
                   restarts=s["restarts"], random_start=s["random_start"], trajectory=trajectory,
                   options=EngineOptions(precision=autocast_precision(device)))


def run_attack(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    spec: Mapping[str, Any],
    *,
    generator: torch.Generator | None = None,
    seed: int = 0,
    engine: str = "auto",
    fast: FastPGD | None = None,
) -> torch.Tensor:
    """Adversarial examples for one batch under a (normalised or raw) attack spec.

    ``fast``: a :class:`FastPGD` for this spec to reuse (its captured graph) when the engine
    resolves to ``graph``; one is built otherwise.
    """
    s = normalize_spec(spec)
    if s["attack"] == "clean":
        return x.detach().clone()
    if s["attack"] == "fgsm":
        return fgsm(model, x, y, norm=s["norm"], eps=s["eps"], alpha=s["alpha"],
                    random_start=s["random_start"], generator=generator)
    if s["attack"] == "pgd":
        if resolve_engine(engine, x.device) == "graph":
            attack = fast if fast is not None else _fast_pgd(model, s, x.device)
            return attack(x, y, generator).x_adv
        return pgd(model, x, y, norm=s["norm"], eps=s["eps"], alpha=s["alpha"], steps=s["steps"],
                   restarts=s["restarts"], random_start=s["random_start"], keep_best=True,
                   generator=generator)
    return _autoattack(model, x, y, s, seed)


def _generator(dev: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=dev).manual_seed(seed)


def _robust_mask(
    model: Model, x: torch.Tensor, y: torch.Tensor, spec: Mapping[str, Any], clean_ok: torch.Tensor,
    *, batch_size: int, dev: torch.device, seed: int, attack_model: Model | None = None,
    engine: str = "auto",
) -> torch.Tensor:
    """Per-example robustness (CPU bool): clean-correct and correct at the attack's output.

    Adversarial examples are crafted on ``attack_model`` (default ``model``: white-box).
    """
    s = normalize_spec(spec)
    ok = clean_ok.clone()
    if s["attack"] == "clean":
        return ok
    src = model if attack_model is None else attack_model
    idx = clean_ok.nonzero().flatten()
    gen = _generator(dev, seed)
    fast = None
    if s["attack"] == "pgd" and resolve_engine(engine, dev) == "graph":
        fast = _fast_pgd(src, s, dev)  # one capture for all batches of this spec
    for sl in _batches(len(idx), batch_size):
        xb, yb = x[idx[sl]].to(dev), y[idx[sl]].to(dev)
        x_adv = run_attack(src, xb, yb, s, generator=gen, seed=seed, engine=engine, fast=fast)
        with torch.no_grad(), eval_mode(model):
            ok[idx[sl]] = (model(x_adv).argmax(1) == yb).cpu()
    return ok


def evaluate_grid(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    grid: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    engine: str = "auto",
) -> pd.DataFrame:
    """Accuracy of ``model`` under each attack spec of ``grid`` (see :func:`normalize_spec`).

    ``device`` defaults to the model's; an ``nn.Module`` is moved there (in place). ``engine``:
    see the module docstring. Returns one
    tidy row per spec: attack, norm, eps, steps, restarts, alpha, random_start, n, n_correct,
    accuracy, seconds. :func:`evaluate_grid_outcomes` also returns the per-example outcomes.
    """
    return evaluate_grid_outcomes(model, x, y, grid, batch_size=batch_size, device=device, seed=seed,
                                  engine=engine)[0]


def evaluate_grid_outcomes(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    grid: Sequence[Mapping[str, Any]],
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    engine: str = "auto",
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`evaluate_grid`'s table and the per-example outcomes: a boolean array of shape
    (len(grid), len(x)), row i True where example j is robust under spec i (clean-correct for
    "clean"); row i's mean is the table's accuracy of row i."""
    dev = torch.device(device) if device is not None else _device_of(model)
    if isinstance(model, nn.Module):
        model.to(dev)
    y = y.cpu().long()
    clean_ok = predict(model, x, batch_size=batch_size, device=dev) == y
    rows = []
    masks = []
    for spec in grid:
        s = normalize_spec(spec)
        t0 = time.perf_counter()
        ok = _robust_mask(model, x, y, s, clean_ok, batch_size=batch_size, dev=dev, seed=seed,
                          engine=engine)
        n = len(ok)
        masks.append(ok.numpy().astype(bool))
        rows.append({
            "attack": s["attack"], "norm": s["norm"], "eps": s["eps"], "steps": s["steps"],
            "restarts": s["restarts"], "alpha": s["alpha"],
            "random_start": s.get("random_start", s["attack"] == "autoattack"),
            "n": n, "n_correct": int(ok.sum()),
            "accuracy": float(ok.float().mean()) if n else float("nan"),
            "seconds": time.perf_counter() - t0,
        })
    outcomes = np.stack(masks) if masks else np.zeros((0, len(y)), dtype=bool)
    return pd.DataFrame(rows), outcomes


def sanity_checks(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    source_model: Model | None = None,
    steps: int = 40,
    alpha: float | None = None,
    large_eps: float | None = None,
    max_large_eps_accuracy: float = 0.05,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    engine: str = "auto",
) -> dict[str, Any]:
    """Checks that PGD robustness at ``eps`` is not an artefact of gradient masking.

    1. ``large_eps`` (default DEFAULT_LARGE_EPS[norm]) PGD accuracy <= ``max_large_eps_accuracy``;
    2. the mean cross-entropy over PGD iterates at ``eps`` rises (``loss_final > loss_initial``;
       ``loss_trajectory`` is the mean over examples at each iterate, start point first);
    3. if ``source_model`` is given: PGD examples crafted on it are no more effective on ``model``
       than white-box PGD (``transfer_accuracy >= whitebox_accuracy``).
    Returns JSON-friendly scalars, the trajectory, per-check ``*_ok`` flags and ``passed``.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid norms: {', '.join(NORMS)}")
    dev = torch.device(device) if device is not None else _device_of(model)
    y = y.cpu().long()
    alpha = 2.5 * eps / max(steps, 1) if alpha is None else alpha
    big = DEFAULT_LARGE_EPS[norm] if large_eps is None else float(large_eps)
    clean_ok = predict(model, x, batch_size=batch_size, device=dev) == y
    n = len(y)

    # (2) white-box PGD at eps with the loss trajectory, over all examples.
    gen = _generator(dev, seed)
    traj = torch.zeros(steps + 1, dtype=torch.float64)
    wb_ok = clean_ok.clone()
    fast = None
    if resolve_engine(engine, dev) == "graph":
        wb_spec = normalize_spec({"attack": "pgd", "norm": norm, "eps": eps, "steps": steps,
                                  "alpha": alpha})
        fast = _fast_pgd(model, wb_spec, dev, trajectory=True)
    for sl in _batches(n, batch_size):
        xb, yb = x[sl].to(dev), y[sl].to(dev)
        res: PGDResult
        if fast is not None:
            res = fast(xb, yb, gen)
        else:
            res = pgd_with_info(model, xb, yb, norm=norm, eps=eps, alpha=alpha, steps=steps,
                                generator=gen)
        traj += res.trajectory[0].double() * len(yb)
        with torch.no_grad(), eval_mode(model):
            wb_ok[sl] &= (model(res.x_adv).argmax(1) == yb).cpu()
    traj /= max(n, 1)
    diffs = traj[1:] - traj[:-1]

    # (1) large eps.
    big_spec = {"attack": "pgd", "norm": norm, "eps": big, "steps": steps}
    big_ok = _robust_mask(model, x, y, big_spec, clean_ok, batch_size=batch_size, dev=dev,
                          seed=seed, engine=engine)
    out: dict[str, Any] = {
        "norm": norm, "eps": float(eps), "steps": steps, "alpha": float(alpha), "n": n,
        "clean_accuracy": float(clean_ok.float().mean()),
        "large_eps": big, "large_eps_accuracy": float(big_ok.float().mean()),
        "loss_trajectory": [float(v) for v in traj],
        "loss_initial": float(traj[0]), "loss_final": float(traj[-1]),
        "loss_increasing_step_fraction": float((diffs >= 0).double().mean()) if steps else 1.0,
        "whitebox_accuracy": float(wb_ok.float().mean()),
        "transfer_accuracy": None,
    }
    out["large_eps_ok"] = out["large_eps_accuracy"] <= max_large_eps_accuracy
    out["loss_rises_ok"] = out["loss_final"] > out["loss_initial"]
    out["transfer_ok"] = None

    # (3) transfer from source_model (same PGD settings, same seed).
    if source_model is not None:
        spec = {"attack": "pgd", "norm": norm, "eps": eps, "steps": steps, "alpha": alpha}
        tr_ok = _robust_mask(model, x, y, spec, clean_ok, batch_size=batch_size, dev=dev,
                             seed=seed, attack_model=source_model, engine=engine)
        out["transfer_accuracy"] = float(tr_ok.float().mean())
        out["transfer_ok"] = out["transfer_accuracy"] >= out["whitebox_accuracy"]
    out["passed"] = all(out[k] is not False for k in ("large_eps_ok", "loss_rises_ok",
                                                        "transfer_ok"))
    return out
