"""The paper's qualitative claims as tidy rows: one measurement, the standard and robust values, and
whether the claim holds in this run (a strict inequality; nothing else is thresholded)."""

from __future__ import annotations

import pandas as pd

__all__ = ["CLAIM_COLUMNS", "claims_markdown"]

CLAIM_COLUMNS = ["claim", "paper", "metric", "recipe", "size", "standard", "robust", "difference", "holds"]
"""``standard``: the standard model's value (NaN where the claim has none, e.g. a rank correlation)."""


def claims_markdown(table: pd.DataFrame) -> str:
    """A claims table as Markdown: one line per (claim, metric, robust model)."""
    lines = ["| claim (paper) | metric | robust model | standard | robust | holds |",
             "| --- | --- | --- | --- | --- | --- |"]
    for _, r in table.iterrows():
        model = r["recipe"] if pd.isna(r["size"]) else f"{r['recipe']} (n = {int(r['size'])})"
        std = "—" if pd.isna(r["standard"]) else f"{r['standard']:.4g}"
        lines.append(f"| {r['claim']} ({r['paper']}) | {r['metric']} | {model} | {std} | "
                     f"{r['robust']:.4g} | {'yes' if r['holds'] else '**no**'} |")
    return "\n".join(lines) + "\n"
