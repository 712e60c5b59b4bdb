"""Stage: merge the per-model tables, summarise over seeds, and set our numbers beside the published ones."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeoff import io
from tradeoff.adversarial.published import PUBLISHED, attack_matches, recipe_mismatch
from tradeoff.claims import stats
from tradeoff.claims.masking import quoted_robust
from tradeoff.claims.outcomes import read_outcomes
from tradeoff.claims.stats import ols_slope
from tradeoff.claims.verdicts import (
    NO_VERDICT,
    ClaimRow,
    claims_markdown,
    judge_table,
    shown_recipe,
    shown_row,
    two_levels,
)
from tradeoff.naming import recipe_labels
from tradeoff.nets.integrity import eval_record_problem

KEY = ["recipe", "size", "attack", "norm", "eps", "steps", "restarts", "alpha", "device", "precision"]


def merge_eval(tables: list[str], sanity: list[str], merged: str, summary: str, sanity_out: str) -> pd.DataFrame:
    """One tidy table of every model's accuracies; mean and standard deviation over seeds; sanity
    checks. Returns the summary it wrote."""
    df = pd.concat([pd.read_csv(p) for p in tables], ignore_index=True)
    df = df.sort_values(["recipe", "size", "seed", "attack", "norm", "eps", "steps", "restarts"], kind="stable",
                        ignore_index=True, na_position="first")
    io.write_csv(df, merged)
    grouped = df.groupby(KEY, dropna=False, sort=True)["accuracy"]
    summ = grouped.agg(accuracy_mean="mean", accuracy_std="std", n_seeds="count").reset_index()
    summ["accuracy_std"] = summ["accuracy_std"].fillna(0.0)
    io.write_csv(summ, summary)
    rows = []
    for path in sanity:
        s = json.loads(Path(path).read_text())
        rows.append({k: v for k, v in s.items() if not isinstance(v, (list, dict))})
    io.write_csv(pd.DataFrame(rows).sort_values(["recipe", "size", "seed"], ignore_index=True), sanity_out)
    return summ


def _attack_label(attack: str, steps: Any, restarts: Any, alpha: Any) -> str:
    if attack == "pgd":
        return f"PGD-{int(steps)} x {int(restarts)}, step {float(alpha):g}"
    if attack == "fgsm":
        return f"FGSM, step {float(alpha):g}"
    return {"autoattack": "AutoAttack", "clean": "clean"}.get(attack, attack)


def paper_comparison(summary_path: str, csv_out: str, md_out: str, *, compare: dict[str, str],
                     size: int | dict[str, int], recipes: list[dict[str, Any]],
                     masking: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our MNIST numbers beside PAPER.md section 3's, like for like only: for each recipe mapped to a
    published model, each published row says "different recipe (...)" when our recipe or architecture
    differs from the published one, "not run" when we ran no attack with its steps, restarts and step
    size at l_inf 0.3, else "like for like" with our mean over seeds. ``size``: the training-set
    size compared, one for all or per recipe. ``masking`` (the masking table,
    :mod:`tradeoff.stages.mnist_masking`; None: no such stage, and no such columns): a gradient-attack
    row (PGD, FGSM) of a recipe marked "gradient attacks overstate" quotes AutoAttack's robust accuracy
    at that size instead (its seeds' mean; none if no model of that size was checked), and says so in
    the columns ``masking`` and ``our_robust_attack``."""
    summary = pd.read_csv(summary_path)
    by_name = {r["recipe"]: r for r in recipes}
    rows: list[dict[str, Any]] = []
    for recipe, key in compare.items():
        n = size.get(recipe, 0) if isinstance(size, dict) else size
        ours_all = summary[(summary["recipe"] == recipe) & (summary["size"] == n)]
        clean = ours_all[ours_all["attack"] == "clean"]
        mismatch = recipe_mismatch(by_name.get(recipe, {}), key)
        for pub in (p for p in PUBLISHED if p["key"] == key):
            match = ours_all[[attack_matches(r, pub) for _, r in ours_all.iterrows()]] if not mismatch else ours_all[:0]
            ours: Any = match.iloc[0] if len(match) else None  # a row; read only when like for like
            status = (f"different recipe ({mismatch})" if mismatch else
                      "not run" if ours is None or not len(clean) else "like for like")
            like = status == "like for like"
            quote = (quoted_robust(masking, recipe, n)
                     if like and masking is not None and pub["attack"] in ("pgd", "fgsm") else None)
            extra = ({} if masking is None else
                     {"masking": quote[0] if quote else "",
                      "our_robust_attack": ("autoattack" if quote else pub["attack"]) if like else None})
            rows.append({
                "published_model": pub["model"], "attack": pub["attack"],
                "published_steps": pub["steps"], "published_restarts": pub["restarts"],
                "published_alpha": pub["alpha"],
                "published_clean": pub["clean"], "published_robust": pub["robust"],
                "recipe": recipe, "size": n, "status": status,
                "our_steps": ours["steps"] if like else None,
                "our_restarts": ours["restarts"] if like else None,
                "our_alpha": ours["alpha"] if like else None,
                "our_clean": float(clean["accuracy_mean"].iloc[0]) if like else None,
                "our_robust": (quote[1] if quote else float(ours["accuracy_mean"])) if like else None,
                "n_seeds": int(clean["n_seeds"].iloc[0]) if like else None,
                "source": pub["source"], **extra,
            })
    table = pd.DataFrame(rows)
    io.write_csv(table, csv_out)
    labels = recipe_labels(pd.DataFrame(recipes))
    lines = ["| published model | attack (l_inf 0.3) | published clean / robust | our recipe (n) | "
             "our clean / robust (seeds) |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        pub_attack = _attack_label(r["attack"], r["published_steps"], r["published_restarts"], r["published_alpha"])
        ours = (f"{100 * r['our_clean']:.2f}% / {_robust_text(r)} ({r['n_seeds']})"
                if r["status"] == "like for like" else r["status"])
        lines.append(f"| {r['published_model']} | {pub_attack} | {100 * r['published_clean']:.2f}% / "
                     f"{100 * r['published_robust']:.2f}% | {shown_recipe(r['recipe'], labels)} ({r['size']}) | {ours} |")
    with io.atomic_path(md_out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return table


def _robust_text(row: Mapping[str, Any]) -> str:
    """Our robust accuracy in a paper-comparison row; under the masking mark, AutoAttack's, said so."""
    if row.get("masking"):
        value = row["our_robust"]
        number = "no AutoAttack at this size" if value is None else f"{100 * value:.2f}% by AutoAttack"
        return f"{number} ({row['masking']})"
    return f"{100 * row['our_robust']:.2f}%"


CleanOutcomes = dict[tuple[str, int], dict[int, pd.Series]]
"""(recipe, size) -> seed -> clean correctness (bool) indexed by test-set image index."""

ESTIMATOR = (f"paired bootstrap over the same test images, seeds held fixed ({stats.N_RESAMPLES} resamples), "
             "percentile interval; Holm within the level")


def clean_outcomes(paths: list[str]) -> CleanOutcomes:
    """Each model's clean per-example outcomes from its outcomes files."""
    out: CleanOutcomes = {}
    for path in paths:
        (recipe, size, seed), specs, correct, index = read_outcomes(path)
        rows = np.flatnonzero(specs["attack"].to_numpy() == "clean")
        if len(rows) != 1:
            raise ValueError(f"{path}: expected one clean row among its outcomes, found {len(rows)}")
        out.setdefault((recipe, size), {})[seed] = pd.Series(correct[rows[0]], index=index)
    return out


def paired(clean: CleanOutcomes, models: list[tuple[str, int]]) -> list[np.ndarray]:
    """Per shared seed, an (images, models) 0/1 array on the images every model was evaluated on."""
    seeds = sorted(set.intersection(*(set(clean[m]) for m in models)))
    data = []
    for s in seeds:
        cols = [clean[m][s] for m in models]
        idx = cols[0].index
        for c in cols[1:]:
            idx = idx.intersection(c.index)
        data.append(np.column_stack([c.loc[idx].to_numpy() for c in cols]).astype(np.float64))
    return data


def _difference(m: np.ndarray) -> np.ndarray:
    """Last column minus the mean of the others (robust recipe minus the standard recipes)."""
    return m[..., -1] - m[..., :-1].mean(-1)


def mnist_claims(clean: CleanOutcomes, recipes: pd.DataFrame, *, n_resamples: int = stats.N_RESAMPLES,
                 seed: int = 0) -> pd.DataFrame:
    """Paper Figs. 7 and 1 as verdicts on clean accuracy (``docs/CLAIMS.md`` section 2; per-example
    outcomes paired on the same test images; standard = the mean of the standard recipes at that size),
    each comparison at the ``recipe`` and the ``models`` level (:func:`tradeoff.claims.verdicts.two_levels`):

    * ``robust_lose_standard_accuracy`` (Fig. 7), at the full training set only (the largest size a
      standard recipe is trained at), per PGD threat model with two or more eps: the OLS slope of clean
      accuracy on the training eps, standard as eps 0, fitted within each seed (< 0); each eps level and
      each TRADES recipe against standard shown beside it without a verdict;
    * ``adversarial_training_helps_with_few_examples`` / ``..._hurts_with_many_examples`` (Fig. 1): per
      robust recipe trained at two or more sizes that standard is trained at too, its clean accuracy
      minus standard's, > 0 at the smallest size and < 0 at the largest; each comparison once.

    Judged together (:func:`tradeoff.claims.verdicts.judge_table`).
    """
    return judge_table(mnist_rows(clean, recipes, n_resamples=n_resamples, seed=seed))


def mnist_rows(clean: CleanOutcomes, recipes: pd.DataFrame, *, n_resamples: int = stats.N_RESAMPLES,
               seed: int = 0) -> list[ClaimRow]:
    """The rows of :func:`mnist_claims`, before judging."""
    rec = recipes.set_index("recipe")
    objective = rec["objective"].fillna("standard") if "objective" in rec else pd.Series("standard", rec.index)
    standard = [r for r in rec.index if objective[r] == "standard"]
    rows: list[ClaimRow] = []

    def diff(claim: str, paper: str, metric: str, recipe: str, size: int, direction: int) -> list[ClaimRow]:
        models = [(r, size) for r in standard if (r, size) in clean] + [(recipe, size)]
        data = paired(clean, models)
        if not data:
            return []
        means = np.mean([d.mean(0) for d in data], axis=0)
        return two_levels(claim, paper, metric, recipe, size, direction, data, _difference,
                          estimator=ESTIMATOR, standard=float(means[:-1].mean()), robust=float(means[-1]),
                          binary=len(models) == 2, n_resamples=n_resamples, seed=seed)

    sizes = sorted({n for _, n in clean})
    base = [n for n in sizes if any((r, n) in clean for r in standard)]
    if base:
        full = base[-1]
        pgd = [r for r in rec.index if objective[r] == "pgd" and (r, full) in clean]
        for norm in sorted({rec.loc[r, "norm"] for r in pgd}):
            pts = sorted((float(rec.loc[r, "eps"]), r) for r in pgd if rec.loc[r, "norm"] == norm)
            stds = [(r, full) for r in standard if (r, full) in clean]
            if len(pts) >= 2:
                data = paired(clean, stds + [(r, full) for _, r in pts])
                if data:
                    eps = np.array([0.0] + [e for e, _ in pts])
                    k = len(stds)

                    def slope(m: np.ndarray, k: int = k, eps: np.ndarray = eps) -> np.ndarray:
                        return ols_slope(eps, np.concatenate([m[..., :k].mean(-1, keepdims=True), m[..., k:]], -1))

                    rows += two_levels("robust_lose_standard_accuracy", "Fig. 7",
                                       f"OLS slope of clean accuracy on the training eps, {norm} PGD eps "
                                       f"{', '.join(f'{e:g}' for e in eps)} (standard as eps 0)",
                                       f"{norm} PGD recipes", full, -1, data, slope,
                                       estimator=ESTIMATOR + "; the slope fitted within each seed",
                                       n_resamples=n_resamples, seed=seed)
            for e, r in pts:
                rows += [shown_row(x, "each eps level beside the slope, shown without a verdict")
                         for x in diff("robust_lose_standard_accuracy", "Fig. 7",
                                       f"clean accuracy, {norm} PGD training at eps {e:g}", r, full, -1)
                         if x.level == "models"]
        for r in (r for r in rec.index if objective[r] == "trades" and (r, full) in clean):
            rows += [shown_row(x, "TRADES beside the slope, not an eps level; shown without a verdict")
                     for x in diff("robust_lose_standard_accuracy", "Fig. 7", "clean accuracy, TRADES", r, full, -1)
                     if x.level == "models"]
    for r in (r for r in rec.index if objective[r] != "standard"):
        shared = [n for n in base if (r, n) in clean]
        if len(shared) < 2:
            continue
        lo, hi = shared[0], shared[-1]
        rows += diff("adversarial_training_helps_with_few_examples", "Fig. 1", f"clean accuracy at n = {lo}", r, lo, 1)
        rows += diff("adversarial_training_hurts_with_many_examples", "Fig. 1", f"clean accuracy at n = {hi}", r, hi, -1)
    return rows


def rise_notes(table: pd.DataFrame, labels: Mapping[str, str] | None = None) -> list[str]:
    """Plain sentences for ``claims.md``: each eps level (shown beside Fig. 7's slope) whose clean accuracy
    is above standard's, i.e. clean accuracy rises at that eps before it falls (recipes shown as
    :func:`tradeoff.claims.verdicts.shown_recipe` shows them)."""
    shown = table[(table["claim"] == "robust_lose_standard_accuracy") & (table["verdict"] == NO_VERDICT)
                  & table["metric"].str.contains("PGD training at eps")]
    return [f"At n = {int(r['size'])}, {shown_recipe(str(r['recipe']), labels)} ({r['metric']}) is above standard: {100 * r['robust']:.2f}% "
            f"against {100 * r['standard']:.2f}% (these models; per seed {r['per_seed']}). Clean accuracy rises at "
            "this eps; the slope summarises the whole eps range and does not say the fall is monotone."
            for _, r in shown.iterrows() if r["difference"] > 0]


def check_eval_records(sanity: list[str], trained: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse evaluations that are not of the model their path and the config name
    (:func:`tradeoff.nets.integrity.eval_record_problem`), naming each; nothing is written.
    ``trained``: recipe -> its params as the training stage gets them
    (:func:`tradeoff.workflow.plan.mnist_trained_recipes`: the recipe hash is computed from these)."""
    problems = [p for p in (eval_record_problem(path, io.read_json(path), trained) for path in sanity) if p]
    if problems:
        raise ValueError("evaluations of other models than asked for:\n  " + "\n  ".join(problems))


def write_tables(tables: list[str], sanity: list[str], outcomes: list[str], out: Any, *,
                 recipes: list[dict[str, Any]], trained: Mapping[str, Mapping[str, Any]],
                 compare: dict[str, str], size: int | dict[str, int], masking: str | None = None) -> None:
    """All MNIST tables: merged, summary, sanity, the recipes' settings, the paper comparison, claims
    (from the per-example ``outcomes``). ``masking``: the masking table's CSV (``mnist.masking``),
    whose marked recipes the paper comparison quotes AutoAttack for."""
    check_eval_records(sanity, trained)
    merge_eval(tables, sanity, out.merged, out.summary, out.sanity)
    io.write_csv(pd.DataFrame(recipes), out.recipes)
    paper_comparison(out.summary, out.paper_csv, out.paper_md, compare=compare, size=size, recipes=recipes,
                     masking=pd.read_csv(masking) if masking else None)
    claims = mnist_claims(clean_outcomes(outcomes), pd.DataFrame(recipes))
    write_claims(claims, out.claims, out.claims_md, labels=recipe_labels(pd.DataFrame(recipes)))


def write_claims(claims: pd.DataFrame, csv: str, md: str, *, labels: Mapping[str, str] | None = None) -> None:
    """The MNIST claims table as CSV and Markdown (with the rise-at-small-eps sentences); ``labels``:
    the recipes' display names (:func:`tradeoff.naming.recipe_labels`) for the Markdown."""
    io.write_csv(claims, csv)
    with io.atomic_path(md) as tmp:
        tmp.write_text(claims_markdown(claims, rise_notes(claims, labels), labels))
