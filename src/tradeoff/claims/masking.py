"""The masking rule's table (docs/CLAIMS.md 5.8; issue 30 item 3), torch-free.

From the per-model records of :mod:`tradeoff.stages.mnist_masking` (PGD and AutoAttack at the model's
own threat model on the same test images): one row per model with the *gap* (PGD's robust accuracy
minus AutoAttack's), the recipe-level mark :data:`MARK` when the gap exceeds the margin on **any** of
the recipe's checked models, and the robust accuracy the tables quote (:func:`quoted_robust`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tradeoff import io

MARK = "gradient attacks overstate"
"""The recipe-level mark of a recipe whose PGD robust accuracy exceeds AutoAttack's by more than the margin."""

COLUMNS = ["recipe", "size", "seed", "norm", "eps", "n", "clean", "pgd", "autoattack", "gap", "over_margin",
           "caught_by", "recipe_mark", "quoted_robust", "quoted_attack"]


def _caught_by(components: Sequence[Mapping[str, Any]]) -> str:
    """The AutoAttack components that broke an image, as ``APGD-CE 12, Square 3`` (images each)."""
    parts, before = [], None
    for c in components:
        if before is not None and c["robust"] < before:
            parts.append(f"{c['component']} {before - c['robust']}")
        before = c["robust"]
    return ", ".join(parts)


def masking_rows(records: Sequence[Mapping[str, Any]], margin: float) -> pd.DataFrame:
    """One row per model (:data:`COLUMNS`): PGD, AutoAttack, the gap, whether it exceeds ``margin``;
    the recipe-level mark (:data:`MARK` when any model of the recipe exceeds it) and the robust
    accuracy the tables quote for the model: AutoAttack's for a marked recipe, else PGD's."""
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for r in records:
        components = r["autoattack"]["components"]
        first = r["clean"] * r["n"]  # the clean-correct images the cascade started from
        rows.append({"recipe": r["recipe"], "size": int(r["size"]), "seed": int(r["seed"]), "norm": r["norm"],
                     "eps": float(r["eps"]), "n": int(r["n"]), "clean": float(r["clean"]),
                     "pgd": float(r["pgd"]["accuracy"]), "autoattack": float(r["autoattack"]["accuracy"]),
                     "gap": float(r["pgd"]["accuracy"]) - float(r["autoattack"]["accuracy"]),
                     "caught_by": _caught_by([{"component": "clean", "robust": round(first)}, *components])})
    df = pd.DataFrame(rows).sort_values(["recipe", "size", "seed"], ignore_index=True)
    # compared in images (both accuracies are counts over the same n): 2 points exactly is not "more than"
    broken = (df["pgd"] * df["n"]).round() - (df["autoattack"] * df["n"]).round()
    df["over_margin"] = broken > float(margin) * df["n"] + 1e-9
    marked = set(df.loc[df["over_margin"], "recipe"])
    df["recipe_mark"] = [MARK if r in marked else "" for r in df["recipe"]]
    df["quoted_robust"] = [a if r in marked else p for r, p, a in zip(df["recipe"], df["pgd"], df["autoattack"],
                                                                         strict=True)]
    df["quoted_attack"] = ["autoattack" if r in marked else "pgd" for r in df["recipe"]]
    return df[COLUMNS]


def masking_markdown(df: pd.DataFrame, margin: float, pgd: Mapping[str, Any]) -> str:
    """The masking table in Markdown, with the rule in words above it."""
    lines = [f"Masking ruled out (docs/CLAIMS.md 5.8): PGD-{pgd['steps']} x {pgd['restarts']} and AutoAttack "
             "(standard) at each model's own threat model on the same test images. A recipe is marked "
             f"\"{MARK}\" when PGD exceeds AutoAttack by more than {100 * margin:g} points on any of its "
             "models; the tables then quote AutoAttack for its robust accuracy (clean accuracy is unaffected). The "
             "robustness figures draw PGD as measured: a marked recipe's PGD curve is an upper bound.",
             "", "| recipe | n (train) | seed | threat | test images | clean | PGD | AutoAttack | gap | broken by "
             "(images) | recipe mark | quoted |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
             "| --- |"]
    for _, r in df.iterrows():
        threat = f"{r['norm']} {r['eps']:g}"
        quoted = f"{100 * r['quoted_robust']:.2f}% ({'AutoAttack' if r['quoted_attack'] == 'autoattack' else 'PGD'})"
        lines.append(f"| {r['recipe']} | {r['size']} | {r['seed']} | {threat} | {r['n']} | {100 * r['clean']:.2f}% | "
                     f"{100 * r['pgd']:.2f}% | {100 * r['autoattack']:.2f}% | {100 * r['gap']:+.2f} | "
                     f"{r['caught_by'] or '-'} | {r['recipe_mark'] or '-'} | {quoted} |")
    if df.empty:
        lines.append("| (no model) | | | | | | | | | | | |")
    return "\n".join(lines) + "\n"


def write_masking_table(records: Sequence[str], csv: str, md: str, *, margin: float,
                        pgd: Mapping[str, Any]) -> pd.DataFrame:
    """The masking table (``results/mnist/masking.csv`` and ``.md``) from the per-model records."""
    df = masking_rows([io.read_json(p) for p in records], margin)
    io.write_csv(df, csv)
    with io.atomic_path(md) as tmp:
        Path(tmp).write_text(masking_markdown(df, margin, pgd))
    return df


def quoted_robust(masking: pd.DataFrame | None, recipe: str, size: int) -> tuple[str, float | None] | None:
    """What the tables quote for ``recipe``'s robust accuracy at ``size`` under the masking rule:
    None when the recipe is not marked (or no masking table: gradient attacks are quoted as measured);
    else ``(MARK, AutoAttack accuracy)``, the mean over the recipe's checked seeds at that size, or
    None in place of the number when no model of that size was checked."""
    if masking is None or masking.empty:
        return None
    rows = masking[masking["recipe"] == recipe]
    if rows.empty or not (rows["recipe_mark"] == MARK).any():
        return None
    at = rows[rows["size"] == size]
    return MARK, (float(at["autoattack"].mean()) if len(at) else None)
