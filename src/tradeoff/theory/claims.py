r"""Section 2's claims checked on the pipeline's own sweeps, from exact population accuracies.

Every number here is a closed form (:func:`tradeoff.theory.model.population_accuracy` of the fitted
weights, or the frontier of :mod:`tradeoff.theory.frontier`), so there is no sampling noise to allow
for: a claim holds or does not. Sampled test accuracies are never used (they cross the bound by noise).

- **Theorem 2.1**, at every classifier, seed and budget with ``eps >= 2`` units (the theorem's one
  hypothesis, ``eps >= 2 eta``; in l_2, 2 units contain the same shift of every weak feature, so the
  bound holds there too): robust accuracy ``<= min(1, p/(1-p) (1 - standard))``. Violations are counted
  per sweep and norm; a classifier counts if it exceeds the bound by more than :data:`TOL`.
- **Theorem 2.2**, at every configured point meeting its conditions (``eta >= 4/sqrt(d)``,
  ``p <= 0.975``; for the robust SVM also l_inf training with ``2 <= eps_train`` and
  ``eps_train_abs < 2p - 1``): the standard SVM has standard accuracy > 99% and robust < 1% at the
  figure budget; the robust SVM's standard and robust accuracy are within :data:`P_TOL` of p (worst seed).
  :func:`theorem_2_2_table` lists every configured point, inside the conditions or not.
- **The linear frontier**: no fitted classifier lies above it, it lies on or below Theorem 2.1's
  bound, and the largest gap between the bound and it.

The claims table has the columns of :mod:`tradeoff.claims.verdicts` (``claim, paper, metric, recipe, size,
standard, robust, difference, holds``); ``recipe`` names the sweep or the model and point.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd

from tradeoff.theory.evaluation import FIT_COLUMNS
from tradeoff.theory.model import theorem_2_1_bound

__all__ = [
    "COLUMNS",
    "P_TOL",
    "TOL",
    "frontier_excess",
    "theorem_2_1_points",
    "theorem_2_2_table",
    "theory_claims",
    "theory_claims_markdown",
]

COLUMNS: Final[tuple[str, ...]] = (
    "claim", "paper", "metric", "recipe", "size", "level", "standard", "robust", "difference", "verdict", "estimator",
)  # fmt: skip
"""The claims table's columns (a subset of :data:`tradeoff.claims.verdicts.CLAIM_COLUMNS`; ``level`` is always
``exact``, ``docs/CLAIMS.md`` section 1): ``verdict`` is
"holds" or "does not hold", decided on exact numbers (``estimator``: closed-form population
accuracies; no sampling, so no interval and never "inconclusive")."""
EXACT: Final = "exact: closed-form population accuracies"

TOL: Final = 1e-9
"""Slack for exact comparisons of closed forms (sign(x1) attains Theorem 2.1's bound up to rounding)."""

P_TOL: Final = 0.01
"""Theorem 2.2's "accuracy p" for a robust SVM fitted on finitely many examples: within 0.01 of p."""

_NORM_TEXT: Final = {"linf": "l_inf", "l2": "l_2"}
_PAIR_KEY: Final = [*FIT_COLUMNS, "test_norm"]


def _near(values: pd.Series, x: float) -> pd.Series:
    return pd.Series(np.isclose(values.to_numpy(dtype=np.float64), x, rtol=1e-9, atol=1e-12), index=values.index)


def theorem_2_1_points(metrics: pd.DataFrame, min_eps: float = 2.0) -> pd.DataFrame:
    """One row per classifier, seed, test norm and budget ``eps_test >= min_eps`` (units): population
    standard and robust accuracy, Theorem 2.1's bound, ``excess = robust - bound`` and ``violation``."""
    if min_eps < 2:
        raise ValueError(f"Theorem 2.1 needs eps >= 2 units, got min_eps={min_eps}")
    std = metrics.loc[_near(metrics["eps_test"], 0.0), [*_PAIR_KEY, "accuracy_population"]]
    rob = metrics.loc[metrics["eps_test"] >= min_eps - 1e-12, [*_PAIR_KEY, "eps_test", "accuracy_population"]]
    pairs = rob.merge(std, on=_PAIR_KEY, suffixes=("_robust", "_standard"), validate="many_to_one")
    if len(pairs) != len(rob):
        raise ValueError("metrics table: some robust rows have no eps_test = 0 row of the same classifier")
    pairs = pairs.rename(columns={"accuracy_population_standard": "standard", "accuracy_population_robust": "robust"})
    pairs["bound"] = [float(theorem_2_1_bound(s, p)) for s, p in zip(pairs["standard"], pairs["p"], strict=True)]
    pairs["excess"] = pairs["robust"] - pairs["bound"]
    pairs["violation"] = pairs["excess"] > TOL
    return pairs


def _worst(values: pd.Series, key: str, p: float) -> float:
    v = values.to_numpy(dtype=np.float64)
    if key == "min":
        return float(v.min())
    if key == "max":
        return float(v.max())
    return float(v[np.argmax(np.abs(v - p))])  # furthest from p


def theorem_2_2_table(metrics: pd.DataFrame, eps_test: float) -> pd.DataFrame:
    """Every configured SVM (de-duplicated across sweeps) with its population standard and l_inf
    robust accuracy at ``eps_test`` units (worst seed: the standard SVM's lowest standard and highest
    robust accuracy, the robust SVM's furthest from p) and whether Theorem 2.2's conditions hold."""
    lin = metrics[(metrics["test_norm"] == "linf") & metrics["classifier"].isin(["svm", "robust_svm"])]
    point = ["p", "d", "eta", "eta_abs", "n_train", "C", "classifier", "train_norm", "eps_train", "eps_train_abs"]
    std = lin[_near(lin["eps_test"], 0.0)].drop_duplicates(subset=[*point, "seed"])
    rob = lin[_near(lin["eps_test"], eps_test)].drop_duplicates(subset=[*point, "seed"])
    if rob.empty:
        raise ValueError(f"metrics table has no l_inf rows at eps_test = {eps_test}")
    rows = []
    for key, part in std.groupby(point, sort=True):
        info = dict(zip(point, key, strict=True))
        r = rob.merge(part[[*point, "seed"]], on=[*point, "seed"])
        p = float(info["p"])
        robust_svm = info["classifier"] == "robust_svm"
        mode_std, mode_rob = ("p", "p") if robust_svm else ("min", "max")
        conditions = info["eta"] >= 4 - 1e-12 and p <= 0.975
        if robust_svm:
            conditions = conditions and info["train_norm"] == "linf" and info["eps_train"] >= 2 - 1e-12 \
                and info["eps_train_abs"] < 2 * p - 1
        rows.append({**info, "seeds": int(part["seed"].nunique()),
                     "standard": _worst(part["accuracy_population"], mode_std, p),
                     "robust": _worst(r["accuracy_population"], mode_rob, p) if not r.empty else math.nan,
                     "conditions": bool(conditions)})  # fmt: skip
    return pd.DataFrame(rows)


def frontier_excess(metrics: pd.DataFrame, frontier: pd.DataFrame, eps_test: float) -> pd.DataFrame:
    """Every classifier and seed with rows at ``eps_test`` units, beside the frontier of its point and
    norm: ``frontier`` is the best robust accuracy the frontier table lists at a standard accuracy
    level at or below the classifier's (the frontier is non-increasing, so this is at least its value
    at the classifier's standard accuracy; above the frontier's top level it is -inf)."""
    pairs = theorem_2_1_points(metrics[_near(metrics["eps_test"], 0.0) | _near(metrics["eps_test"], eps_test)],
                               min_eps=eps_test)  # fmt: skip
    pairs = pairs.drop_duplicates(subset=[c for c in _PAIR_KEY if c != "sweep"])
    values = []
    for (p, d, eta, norm), part in pairs.groupby(["p", "d", "eta", "test_norm"], sort=False):
        f = frontier[np.isclose(frontier["p"], p) & (frontier["d"] == d) & np.isclose(frontier["eta"], eta)
                     & (frontier["test_norm"] == norm) & np.isclose(frontier["eps_test"], eps_test)]  # fmt: skip
        if f.empty:
            raise ValueError(f"frontier table has no frontier for p={p}, d={d}, eta={eta}, {norm}, eps={eps_test}")
        f = f.sort_values("standard")
        levels, robust = f["standard"].to_numpy(), f["robust"].to_numpy()
        idx = np.searchsorted(levels, part["standard"].to_numpy() + 1e-12, side="right") - 1
        at = np.where(idx >= 0, robust[np.clip(idx, 0, None)], np.inf)
        at = np.where(part["standard"].to_numpy() > levels.max() + 1e-9, -np.inf, at)
        values.append(pd.Series(at, index=part.index))
    pairs["frontier"] = pd.concat(values)
    pairs["above"] = pairs["robust"] - pairs["frontier"]
    return pairs


def _point_text(r: pd.Series) -> str:
    return f"p = {r['p']:g}, d = {int(r['d'])}, eta = {r['eta']:g}/sqrt(d), C = {r['C']:g}"


def _theorem_2_2_rows(t22: pd.DataFrame, eps_test: float) -> list[dict[str, object]]:
    """Theorem 2.2's rows: at each point that meets its conditions, the standard SVM (accurate, not
    robust) and the robust SVM (both accuracies p)."""
    rows: list[dict[str, object]] = []
    for _, r in t22[t22["conditions"]].iterrows():
        if r["classifier"] == "svm":
            rows.append({
                "claim": "Theorem 2.2: the standard SVM is accurate (> 99%) and not robust (< 1%)",
                "paper": "Thm 2.2", "metric": f"population accuracy, worst of {r['seeds']} seeds (l_inf, eps = {eps_test:g} eta)",
                "recipe": f"standard SVM, {_point_text(r)}", "size": float(r["n_train"]),
                "standard": r["standard"], "robust": r["robust"], "difference": r["robust"] - r["standard"],
                "holds": bool(r["standard"] > 0.99 and r["robust"] < 0.01),
            })  # fmt: skip
        else:
            diff = max(abs(r["standard"] - r["p"]), abs(r["robust"] - r["p"]))
            rows.append({
                "claim": f"Theorem 2.2: the robust SVM's standard and robust accuracy are p (within {P_TOL:g})",
                "paper": "Thm 2.2", "metric": f"population accuracy, furthest from p of {r['seeds']} seeds (l_inf, "
                                              f"eps = {eps_test:g} eta); difference: largest |accuracy - p|",
                "recipe": f"robust SVM (l_inf, eps_train = {r['eps_train']:g} eta), {_point_text(r)}",
                "size": float(r["n_train"]), "standard": r["standard"], "robust": r["robust"], "difference": diff,
                "holds": bool(diff <= P_TOL),
            })  # fmt: skip
    return rows


def _frontier_bound_rows(frontier: pd.DataFrame, eps_test: float) -> list[dict[str, object]]:
    """Per norm: the frontier on or below Theorem 2.1's bound, then per point whether linear
    classifiers fall short of the bound between standard accuracy p and 1."""
    rows: list[dict[str, object]] = []
    sel = frontier[np.isclose(frontier["eps_test"], eps_test)].reset_index(drop=True)
    for norm, part in sel.groupby("test_norm", sort=True):
        excess = part["robust"] - part["bound"]
        rows.append({
            "claim": "The linear frontier lies on or below Theorem 2.1's bound",
            "paper": "Thm 2.1", "metric": f"largest frontier - bound over {part[['p', 'd', 'eta']].drop_duplicates().shape[0]} "
                                          f"points ({_NORM_TEXT[norm]}, eps = {eps_test:g} units)",
            "recipe": "frontier", "size": math.nan, "standard": math.nan, "robust": float(excess.max()),
            "difference": float(excess.max()), "holds": bool(excess.max() <= TOL),
        })  # fmt: skip
        for (p, d, eta), pt in part.groupby(["p", "d", "eta"], sort=True):
            gap = (pt["bound"] - pt["robust"]).where(pt["standard"] >= p - 1e-12)
            if gap.notna().any():
                i = gap.idxmax()
                rows.append({
                    "claim": "Linear classifiers cannot reach Theorem 2.1's bound between standard accuracy p and 1",
                    "paper": "beyond the paper",
                    "metric": f"largest gap bound - frontier ({_NORM_TEXT[norm]}, eps = {eps_test:g} units); standard: "
                              f"where; robust: the frontier there; holds if the gap exceeds {P_TOL:g}",
                    "recipe": f"p = {p:g}, d = {int(d)}, eta = {eta:g}/sqrt(d)", "size": math.nan,
                    "standard": float(pt.loc[i, "standard"]), "robust": float(pt.loc[i, "robust"]),
                    "difference": float(gap.max()), "holds": bool(gap.max() > P_TOL),
                })  # fmt: skip
    return rows


def theory_claims(metrics: pd.DataFrame, frontier: pd.DataFrame, eps_test: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The claims table (columns :data:`COLUMNS`) and :func:`theorem_2_2_table`."""
    rows: list[dict[str, object]] = []
    t21 = theorem_2_1_points(metrics)
    for (sweep, norm), part in t21.groupby(["sweep", "test_norm"], sort=True):
        analogue = "" if norm == "linf" else " (l_2 analogue)"
        rows.append({
            "claim": f"Theorem 2.1{analogue}: robust <= p/(1-p) (1 - standard) at eps >= 2 units",
            "paper": "Thm 2.1",
            "metric": f"violations among {len(part)} classifier x seed x eps points ({_NORM_TEXT[norm]}, "
                      f"eps in {sorted(set(part['eps_test']))}, population); difference: largest robust - bound",
            "recipe": f"sweep {sweep}", "size": math.nan, "standard": math.nan,
            "robust": float(part["violation"].sum()), "difference": float(part["excess"].max()),
            "holds": not bool(part["violation"].any()),
        })  # fmt: skip
    t22 = theorem_2_2_table(metrics, eps_test)
    rows += _theorem_2_2_rows(t22, eps_test)
    dom = frontier_excess(metrics, frontier, eps_test)
    for norm, part in dom.groupby("test_norm", sort=True):
        above = part["above"] > TOL
        rows.append({
            "claim": "No fitted or baseline classifier lies above the linear frontier",
            "paper": "beyond the paper", "metric": f"classifiers above it among {len(part)} (classifier x seed x point, "
                                                   f"{_NORM_TEXT[norm]}, eps = {eps_test:g} units, population); "
                                                   "difference: largest robust - frontier",
            "recipe": "all sweeps", "size": math.nan, "standard": math.nan, "robust": float(above.sum()),
            "difference": float(part["above"].max()), "holds": not bool(above.any()),
        })  # fmt: skip
    rows += _frontier_bound_rows(frontier, eps_test)
    table = pd.DataFrame(rows)
    table["verdict"] = ["holds" if h else "does not hold" for h in table.pop("holds").astype(bool)]
    table["estimator"] = EXACT
    table["level"] = "exact"
    return table[list(COLUMNS)], t22


def theory_claims_markdown(table: pd.DataFrame) -> str:
    """The claims table as Markdown, each claim's verdict "holds" or "does not hold" (exact numbers)."""
    def num(x: float) -> str:
        return "—" if pd.isna(x) else f"{x:.4g}"

    lines = ["| claim (paper) | metric | model / sweep | n_train | level | standard | robust | difference | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for _, r in table.iterrows():
        size = "—" if pd.isna(r["size"]) else f"{int(r['size'])}"
        verdict = "holds" if r["verdict"] == "holds" else "**does not hold**"
        lines.append(f"| {r['claim']} ({r['paper']}) | {r['metric']} | {r['recipe']} | {size} | {r.get('level', 'exact')} | {num(r['standard'])} | "
                     f"{num(r['robust'])} | {num(r['difference'])} | {verdict} |")
    return "\n".join(lines) + "\n"
