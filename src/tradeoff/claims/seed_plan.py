"""The paper-grade run's seed plan, computed from validation runs (``docs/CLAIMS.md`` section 4).

Input: the candidate recipes' models trained under the stopping rule (``config/seedplan.yaml``), at
least 3 seeds each, scored on the **validation split only** (the test images are never loaded here):

* every model's clean accuracy on the first ``clean_n`` validation images (the claims' metric);
* the robust models at the sizes in ``robust_sizes``: PGD (``steps`` x ``restarts``, every iterate
  counted) at the model's own threat model on the first ``robust_n`` validation images, the step the
  test protocol uses for that norm (:data:`tradeoff.stages.headline.PROTOCOLS`: l_inf 0.01 at 0.3,
  l2 0.075 at 1.5, scaled with eps). This checks the recipe against the rerun's goals; it decides no seeds.

Per deciding cell (a recipe-level row of the MNIST claims table, stated with its effect in the
config before the validation runs), the seed SD is the sample SD of the per-seed difference
``clean(recipe, size, seed) - clean(standard, size, seed)``; for a Fig. 7 slope cell, of the per-seed
two-point slope ``(clean(recipe) - clean(standard)) / eps`` (a proxy for the OLS slope over every eps
level, which these runs do not train; for models with independent noise it overstates the OLS
slope's SD, so the seeds it asks for err on the high side). Seeds: the smallest k with power >=
``power`` for the two-sided paired t-test at Holm's first-step level ``alpha / rows``
(:func:`tradeoff.claims.simulation.seeds_needed`), raised to ``seeds.min`` and capped at
``seeds.max``; a cell that ``seeds.max`` cannot power is **underpowered**, declared in the plan.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeoff import io
from tradeoff.claims import stats
from tradeoff.claims.simulation import seeds_needed

log = logging.getLogger(__name__)

SCORE_COLUMNS = ("recipe", "size", "seed", "objective", "norm", "eps", "val_clean", "val_clean_n",
                 "val_robust", "val_robust_n", "best_epoch", "epochs_trained", "reason")
PLAN_COLUMNS = ("claim", "recipe", "size", "metric", "effect", "effect_source", "seeds_validated",
                "per_seed", "mean", "sd", "level", "needed", "seeds", "underpowered")


def _robust_accuracy(model: Any, x: Any, y: Any, *, norm: str, eps: float, steps: int, restarts: int,
                     batch_size: int, seed: int) -> float:
    import torch

    from tradeoff.adversarial.attacks import pgd
    from tradeoff.stages.headline import PROTOCOLS

    proto = next(spec for spec, _ in PROTOCOLS[norm] if spec["attack"] == "pgd")
    alpha = eps * proto["alpha"] / proto["eps"]
    gen = torch.Generator().manual_seed(seed)
    right = 0
    for i in range(0, len(y), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        x_adv = pgd(model, xb, yb, norm=norm, eps=eps, alpha=alpha, steps=steps, restarts=restarts,
                    keep_best=True, generator=gen)
        with torch.no_grad():
            right += int(((model(xb).argmax(1) == yb) & (model(x_adv).argmax(1) == yb)).sum())
    return right / len(y)


def validation_scores(data: str, models: Sequence[tuple[str, str]], *, clean_n: int, robust_n: int,
                      robust_sizes: Sequence[int], steps: int, restarts: int, batch_size: int,
                      seed: int) -> pd.DataFrame:
    """One row per (weights, history) pair in ``models``: its validation scores (module docstring)."""
    import torch

    from tradeoff.adversarial.robust_eval import predict
    from tradeoff.datasets.mnist import load_npz
    from tradeoff.nets.checkpoints import load_weights_and_metadata

    mnist = load_npz(data)
    for name, n in (("clean_n", clean_n), ("robust_n", robust_n)):
        if not 0 < n <= len(mnist.y_val):
            raise ValueError(f"{data}: seed_plan.validation.{name} = {n}; the data has {len(mnist.y_val)} validation images")
    xv = torch.from_numpy(mnist.x_val).unsqueeze(1).float().div_(255)
    yv = torch.from_numpy(mnist.y_val).long()
    rows = []
    for weights, history in models:
        hist = io.read_json(history)
        model, meta = load_weights_and_metadata(None, weights, device="cpu")
        cfg = json.loads(meta["train_config"])
        clean = int((predict(model, xv[:clean_n], batch_size=1000) == yv[:clean_n]).sum()) / clean_n
        robust = math.nan
        if cfg["objective"] != "standard" and int(hist["size"]) in robust_sizes:
            robust = _robust_accuracy(model, xv[:robust_n], yv[:robust_n], norm=cfg["norm"], eps=float(cfg["eps"]),
                                      steps=steps, restarts=restarts, batch_size=batch_size, seed=seed)
        stop = hist.get("stopping") or {}
        rows.append({"recipe": hist["recipe"], "size": int(hist["size"]), "seed": int(hist["seed"]),
                     "objective": cfg["objective"], "norm": cfg["norm"], "eps": float(cfg["eps"]),
                     "val_clean": clean, "val_clean_n": clean_n, "val_robust": robust,
                     "val_robust_n": robust_n if not math.isnan(robust) else 0,
                     "best_epoch": stop.get("best_epoch"), "epochs_trained": stop.get("epochs_trained"),
                     "reason": stop.get("reason", "")})
        log.info("%s n=%s seed %s on validation: clean %.4f, robust %s", hist["recipe"], hist["size"], hist["seed"],
                 clean, "-" if math.isnan(robust) else f"{robust:.4f}")
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS)).sort_values(["recipe", "size", "seed"], ignore_index=True)


def per_seed_values(scores: pd.DataFrame, cell: Mapping[str, Any], standard: str) -> dict[int, float]:
    """The cell's per-seed value: the clean-accuracy difference to ``standard`` at the cell's size, or
    (``slope_eps`` set) that difference divided by the training eps; seeds both models have."""
    def clean(recipe: str) -> dict[int, float]:
        sel = scores[(scores["recipe"] == recipe) & (scores["size"] == int(cell["size"]))]
        return dict(zip(sel["seed"].astype(int), sel["val_clean"].astype(float), strict=True))

    rob, std = clean(str(cell["recipe"])), clean(standard)
    scale = float(cell.get("slope_eps") or 1.0)
    return {s: (rob[s] - std[s]) / scale for s in sorted(set(rob) & set(std))}


def plan(scores: pd.DataFrame, cells: Sequence[Mapping[str, Any]], *, standard: str, alpha: float, rows: int,
         power: float, min_seeds: int, max_seeds: int) -> pd.DataFrame:
    """The seed plan: one row per cell (module docstring). ``ValueError`` for a cell with fewer than
    3 validated seeds, which cannot give an SD worth planning on."""
    level = alpha / rows
    out = []
    for cell in cells:
        vals = per_seed_values(scores, cell, standard)
        name = f"{cell['claim']} {cell['recipe']} n={cell['size']}"
        if len(vals) < 3:
            raise ValueError(f"seed_plan cell {name}: {len(vals)} validated seed(s) with {standard}; at least 3 needed")
        v = np.array(list(vals.values()))
        sd = float(v.std(ddof=1))
        needed = seeds_needed(float(cell["effect"]), sd, level=level, power=power, max_seeds=max_seeds) if sd > 0 else stats.RECIPE_MIN_SEEDS
        seeds = max_seeds if needed is None else min(max(needed, min_seeds), max_seeds)
        out.append({"claim": cell["claim"], "recipe": cell["recipe"], "size": int(cell["size"]),
                    "metric": "slope of clean accuracy per unit eps (two-point proxy)" if cell.get("slope_eps")
                    else "clean accuracy difference to standard",
                    "effect": float(cell["effect"]), "effect_source": cell["source"], "seeds_validated": len(v),
                    "per_seed": "; ".join(f"{x:.5f}" for x in v), "mean": float(v.mean()), "sd": sd, "level": level,
                    "needed": needed, "seeds": seeds, "underpowered": needed is None})
    return pd.DataFrame(out, columns=list(PLAN_COLUMNS))


def markdown(scores: pd.DataFrame, seed_plan: pd.DataFrame) -> str:
    def table(df: pd.DataFrame, cols: Sequence[str]) -> str:
        def fmt(v: Any) -> str:
            return f"{v:.5g}" if isinstance(v, float) and not math.isnan(v) else "-" if v is None or (
                isinstance(v, float) and math.isnan(v)) else str(v)
        head = "| " + " | ".join(cols) + " |\n| " + " | ".join("---" for _ in cols) + " |\n"
        return head + "".join("| " + " | ".join(fmt(r[c]) for c in cols) + " |\n" for r in df.to_dict("records"))

    plan_cols = [c for c in PLAN_COLUMNS if c != "per_seed"]
    return ("# Seed plan from validation runs (docs/CLAIMS.md section 4)\n\nComputed from the validation split "
            "only. Seeds per cell: the smallest k with the planned power for the paired t-test at Holm's first-step "
            "level, at least the plan's minimum, at most its maximum; an underpowered cell is declared here, "
            "before the run.\n\n## Plan\n\n" + table(seed_plan, plan_cols)
            + "\n## Validation scores per model\n\n" + table(scores, list(SCORE_COLUMNS)))


def write_seed_plan(data: str, weights: Sequence[str], histories: Sequence[str], scores_out: str, plan_out: str,
                    md_out: str, *, settings: Mapping[str, Any], standard: str) -> pd.DataFrame:
    """Score the validation models, compute the plan, write both tables and their markdown."""
    if len(weights) != len(histories):
        raise ValueError(f"{len(weights)} weights files but {len(histories)} histories")
    v = settings["validation"]
    scores = validation_scores(data, list(zip(weights, histories, strict=True)), clean_n=v["clean_n"],
                               robust_n=v["robust_n"], robust_sizes=v["robust_sizes"], steps=v["steps"],
                               restarts=v["restarts"], batch_size=v["batch_size"], seed=v["seed"])
    seed_plan = plan(scores, settings["cells"], standard=standard, alpha=settings["alpha"], rows=settings["rows"],
                     power=settings["power"], min_seeds=settings["seeds"]["min"], max_seeds=settings["seeds"]["max"])
    io.write_csv(scores, scores_out)
    io.write_csv(seed_plan, plan_out)
    with io.atomic_path(md_out) as tmp:
        tmp.write_text(markdown(scores, seed_plan))
    return seed_plan
