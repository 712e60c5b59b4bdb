"""Stage: merge the per-model tables, summarise over seeds, and set our numbers beside the published ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeoff import io
from tradeoff.adversarial.published import PUBLISHED
from tradeoff.claims import CLAIM_COLUMNS, claims_markdown

KEY = ["recipe", "size", "attack", "norm", "eps", "steps", "restarts", "device", "precision"]


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


def _ours(summary: pd.DataFrame, recipe: str, size: int, attack: str, steps: int | None,
          restarts: int | None) -> pd.Series | None:
    rows = summary[(summary["recipe"] == recipe) & (summary["size"] == size) & (summary["attack"] == attack)]
    if attack != "clean":
        rows = rows[(rows["norm"] == "linf") & np.isclose(rows["eps"], 0.3)]
    if attack == "pgd" and len(rows):
        # the same steps and restarts if we ran them, else our strongest PGD (most steps x restarts)
        same = rows[(rows["steps"] == steps) & (rows["restarts"] == restarts)]
        rows = same if len(same) else rows.assign(_w=rows["steps"] * rows["restarts"]).sort_values("_w").tail(1)
    return rows.iloc[-1] if len(rows) else None


def paper_comparison(summary_path: str, csv_out: str, md_out: str, *, compare: dict[str, str], size: int) -> None:
    """Our MNIST numbers beside PAPER.md section 3's, for each recipe mapped to a published model."""
    summary = pd.read_csv(summary_path)
    rows = []
    for recipe, key in compare.items():
        clean = _ours(summary, recipe, size, "clean", None, None)
        for pub in (p for p in PUBLISHED if p["key"] == key):
            ours = _ours(summary, recipe, size, pub["attack"], pub["steps"], pub["restarts"])
            rows.append({
                "published_model": pub["model"], "attack": pub["attack"],
                "published_steps": pub["steps"], "published_restarts": pub["restarts"],
                "published_clean": pub["clean"], "published_robust": pub["robust"],
                "recipe": recipe, "size": size,
                "our_steps": None if ours is None else ours["steps"],
                "our_restarts": None if ours is None else ours["restarts"],
                "our_clean": None if clean is None else clean["accuracy_mean"],
                "our_robust": None if ours is None else ours["accuracy_mean"],
                "n_seeds": None if clean is None else int(clean["n_seeds"]),
                "source": pub["source"],
            })
    table = pd.DataFrame(rows)
    io.write_csv(table, csv_out)
    lines = ["| published model | attack (l_inf 0.3) | published clean / robust | our recipe (n) | "
             "our attack | our clean / robust |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        pub_attack = r["attack"] + (f"-{r['published_steps']} x {r['published_restarts']}"
                                    if r["published_steps"] else "")
        our_attack = "not run" if r["our_robust"] is None else r["attack"] + (
            f"-{int(r['our_steps'])} x {int(r['our_restarts'])}" if r["attack"] == "pgd" else "")
        ours = "—" if r["our_clean"] is None else (
            f"{100 * r['our_clean']:.2f}% / " + ("—" if r["our_robust"] is None else f"{100 * r['our_robust']:.2f}%"))
        lines.append(f"| {r['published_model']} | {pub_attack} | {100 * r['published_clean']:.2f}% / "
                     f"{100 * r['published_robust']:.2f}% | {r['recipe']} ({r['size']}) | {our_attack} | {ours} |")
    with io.atomic_path(md_out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def mnist_claims(summary: pd.DataFrame, recipes: pd.DataFrame) -> pd.DataFrame:
    """Paper Figs. 7 and 1 as numbers (clean accuracy, mean over seeds; standard = mean of the
    standard recipes at that size):

    * ``robust_lose_standard_accuracy`` (Fig. 7): at each size, per PGD threat model, the recipe of
      the largest training eps has lower clean accuracy than standard training; and, with two or
      more PGD eps values, the Spearman rank correlation of (training eps, clean accuracy), standard
      as eps 0, is negative;
    * ``adversarial_training_helps_with_few_examples`` / ``..._hurts_with_many_examples`` (Fig. 1):
      per robust recipe trained at two or more sizes that standard is trained at too, its clean
      accuracy minus standard's is > 0 at the smallest size and < 0 at the largest.
    """
    clean = summary[summary["attack"] == "clean"].set_index(["recipe", "size"])["accuracy_mean"]
    rec = recipes.set_index("recipe")
    objective = rec["objective"].fillna("standard") if "objective" in rec else pd.Series("standard", rec.index)
    standard = [r for r in rec.index if objective[r] == "standard"]
    rows: list[dict[str, Any]] = []

    def row(claim: str, paper: str, metric: str, recipe: str, size: int, std: float, rob: float,
            holds: bool) -> None:
        rows.append({"claim": claim, "paper": paper, "metric": metric, "recipe": recipe, "size": size,
                     "standard": std, "robust": rob, "difference": rob - std if np.isfinite(std) else np.nan,
                     "holds": bool(holds)})

    sizes = sorted({int(n) for _, n in clean.index})
    base = {n: float(np.mean([clean[(r, n)] for r in standard if (r, n) in clean.index]))
            for n in sizes if any((r, n) in clean.index for r in standard)}
    for n, b in base.items():
        pgd = [r for r in rec.index if objective[r] == "pgd" and (r, n) in clean.index]
        for norm in sorted({rec.loc[r, "norm"] for r in pgd}):
            pts = sorted((float(rec.loc[r, "eps"]), r) for r in pgd if rec.loc[r, "norm"] == norm)
            eps_max, r_max = pts[-1]
            row("robust_lose_standard_accuracy", "Fig. 7", f"clean accuracy, {norm} PGD training at eps {eps_max:g}",
                r_max, n, b, float(clean[(r_max, n)]), clean[(r_max, n)] < b)
            if len(pts) >= 2:
                eps = [0.0] + [e for e, _ in pts]
                acc = [b] + [float(clean[(r, n)]) for _, r in pts]
                rho = float(pd.Series(eps).corr(pd.Series(acc), method="spearman"))
                row("robust_lose_standard_accuracy", "Fig. 7",
                    f"Spearman rho(training eps, clean accuracy), {norm} PGD with standard as eps 0",
                    f"{norm} PGD recipes", n, np.nan, rho, rho < 0)
    for r in (r for r in rec.index if objective[r] != "standard"):
        shared = [n for n in sizes if (r, n) in clean.index and n in base]
        if len(shared) < 2:
            continue
        lo, hi = shared[0], shared[-1]
        row("adversarial_training_helps_with_few_examples", "Fig. 1", f"clean accuracy at n = {lo}", r, lo,
            base[lo], float(clean[(r, lo)]), clean[(r, lo)] > base[lo])
        row("adversarial_training_hurts_with_many_examples", "Fig. 1", f"clean accuracy at n = {hi}", r, hi,
            base[hi], float(clean[(r, hi)]), clean[(r, hi)] < base[hi])
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def write_tables(tables: list[str], sanity: list[str], out: Any, *, recipes: list[dict[str, Any]],
                 compare: dict[str, str], size: int) -> None:
    """All MNIST tables: merged, summary, sanity, the recipes' settings, the paper comparison, claims."""
    summ = merge_eval(tables, sanity, out.merged, out.summary, out.sanity)
    io.write_csv(pd.DataFrame(recipes), out.recipes)
    paper_comparison(out.summary, out.paper_csv, out.paper_md, compare=compare, size=size)
    claims = mnist_claims(summ, pd.DataFrame(recipes))
    io.write_csv(claims, out.claims)
    with io.atomic_path(out.claims_md) as tmp:
        tmp.write_text(claims_markdown(claims))
