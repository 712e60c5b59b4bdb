"""The paper's claims as tidy rows with verdicts under the rules of ``docs/CLAIMS.md``.

A claim builder (``stages/mnist_tables.py``, ``stages/saliency_tables.py``) makes one
:class:`Comparison` per (claim, metric, model): a statistic of paired per-example values (the same
test images under each model), its bootstrap distribution (:func:`tradeoff.stats.hierarchical_bootstrap`)
and the claimed sign. :func:`judge_table` decides the whole table at once (Holm over its claims,
:func:`tradeoff.stats.judge`); every verdict carries its interval and the numbers of seeds, images
and resamples it rests on. ``RULES`` holds each claim's minimum seeds and images; ``docs/CLAIMS.md``
states the same numbers (a test compares them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd

from tradeoff import stats
from tradeoff.stats import Bootstrap

__all__ = ["CLAIM_COLUMNS", "RULES", "Comparison", "beside_reference", "beside_reference_markdown",
           "claims_markdown", "judge_table", "readme_block", "update_readme"]

CLAIM_COLUMNS = ["claim", "paper", "metric", "recipe", "size", "direction", "standard", "robust", "difference",
                 "low", "high", "interval_level", "p", "p_holm", "mcnemar_p", "verdict", "reason", "n_seeds",
                 "n_images", "n_resamples", "estimator"]
"""``standard``/``robust``: the two sides' point values (``standard`` NaN where the claim has none,
e.g. a rank correlation); ``difference``: the statistic (robust - standard, or the correlation);
``low``/``high``: its percentile interval at ``interval_level`` (Holm's level for the claim's step);
``direction``: +1 if the claim says the statistic is > 0, -1 if < 0; ``mcnemar_p``: the exact McNemar
p-value where the values are paired 0/1 outcomes (pooled over seeds), else NaN; ``reason``: why a
claim is inconclusive regardless of its interval (a minimum not met)."""


@dataclass(frozen=True)
class Rule:
    """What a verdict on a claim needs (``docs/CLAIMS.md`` states the same)."""

    min_seeds: int
    min_images: int


RULES: Final[dict[str, Rule]] = {
    "robust_lose_standard_accuracy": Rule(1, 1000),
    "adversarial_training_helps_with_few_examples": Rule(1, 1000),
    "adversarial_training_hurts_with_many_examples": Rule(1, 1000),
    "gradients_align": Rule(1, 100),
    "large_eps_look_like_target": Rule(1, 270),
    "large_eps_targeted_random_start": Rule(1, 270),
    "large_eps_untargeted": Rule(1, 30),
    "large_eps_untargeted_random_start": Rule(1, 30),
    "interpolation_toward_target": Rule(1, 270),
    "thresholding_filters": Rule(2, 1),
    "linear_sparser": Rule(1, 0),
    "linear_weak_weight": Rule(1, 0),
    "linear_more_robust": Rule(1, 100),
}
"""Minimum seeds and images per claim (images: per seed, after pairing)."""


@dataclass(frozen=True)
class Comparison:
    """One claim row before judging."""

    claim: str
    paper: str
    metric: str
    recipe: str
    size: float
    direction: int
    standard: float
    robust: float
    boot: Bootstrap
    estimator: str
    mcnemar_p: float = float("nan")


def judge_table(comparisons: Sequence[Comparison], *, level: float = stats.LEVEL) -> pd.DataFrame:
    """The claims table (CLAIM_COLUMNS) of one family of claims, Holm-corrected together."""
    if not comparisons:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    unknown = sorted({c.claim for c in comparisons} - set(RULES))
    if unknown:
        raise ValueError(f"claims without a rule in tradeoff.claims.RULES (docs/CLAIMS.md): {unknown}")
    verdicts = stats.judge([c.boot for c in comparisons], [c.direction for c in comparisons],
                           min_seeds=[RULES[c.claim].min_seeds for c in comparisons],
                           min_images=[RULES[c.claim].min_images for c in comparisons], level=level)
    rows = []
    for c, v in zip(comparisons, verdicts, strict=True):
        rows.append({"claim": c.claim, "paper": c.paper, "metric": c.metric, "recipe": c.recipe, "size": c.size,
                     "direction": c.direction, "standard": c.standard, "robust": c.robust,
                     "difference": v["estimate"], "low": v["low"], "high": v["high"],
                     "interval_level": v["interval_level"], "p": v["p"], "p_holm": v["p_holm"],
                     "mcnemar_p": c.mcnemar_p, "verdict": v["verdict"], "reason": v["reason"],
                     "n_seeds": v["n_seeds"], "n_images": v["n_images"], "n_resamples": v["n_resamples"],
                     "estimator": c.estimator})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _num(v: float) -> str:
    return "—" if pd.isna(v) else f"{v:.4g}"


def _verdict(r: pd.Series) -> str:
    v = str(r["verdict"])
    text = {"holds": "holds", "does not hold": "**does not hold**", "inconclusive": "*inconclusive*"}[v]
    return text + (f" ({r['reason']})" if isinstance(r["reason"], str) and r["reason"] else "")


def claims_markdown(table: pd.DataFrame) -> str:
    """A claims table as Markdown: one line per (claim, metric, robust model), each verdict with its
    interval (Holm level), seeds, images and resamples."""
    lines = ["| claim (paper) | metric | robust model | standard | robust | difference [interval] | "
             "verdict | seeds | images | resamples |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for _, r in table.iterrows():
        model = r["recipe"] if pd.isna(r["size"]) else f"{r['recipe']} (n = {int(r['size'])})"
        sign = ">" if int(r["direction"]) > 0 else "<"
        interval = (f"{_num(r['difference'])} [{_num(r['low'])}, {_num(r['high'])}] ({100 * r['interval_level']:.2f}%)"
                    if not pd.isna(r["interval_level"]) else f"{_num(r['difference'])} (no interval: {r['estimator']})")
        lines.append(f"| {r['claim']} ({r['paper']}) | {r['metric']} (claim: {sign} 0) | {model} | "
                     f"{_num(r['standard'])} | {_num(r['robust'])} | {interval} | {_verdict(r)} | "
                     f"{int(r['n_seeds'])} | {int(r['n_images'])} | {int(r['n_resamples'])} |")
    return "\n".join(lines) + "\n"


def _metric_key(metric: str) -> str:
    """A metric without its training-set size (``clean accuracy at n = 500`` -> ``clean accuracy``):
    the paper-grade run decides the same claim at other sizes."""
    return re.sub(r"\s*at n = \d+", "", str(metric))


def beside_reference(table: pd.DataFrame, reference: pd.DataFrame | None) -> pd.DataFrame:
    """``table`` (a claims table) with each row's verdict in ``reference`` (the committed
    paper-grade claims) beside it: ``paper_grade`` and ``agreement``.

    Rows match on claim, recipe and metric, sizes aside (the two runs train other sizes): a
    reference that decided the claim at several sizes alike gives that verdict; one that differs
    across sizes gives each verdict with its sizes (``mixed: ...``). ``agreement``: ``agrees``,
    ``DISAGREES``, ``agrees at some sizes`` (mixed, ours among them) or ``no paper-grade verdict``.
    Nothing forces agreement: a disagreement is flagged, not resolved."""
    out = table.copy()
    ref = reference if reference is not None else pd.DataFrame(columns=["claim", "recipe", "metric", "size", "verdict"])
    ref_keys = list(zip(ref["claim"], ref["recipe"].astype(str), ref["metric"].map(_metric_key), strict=True))
    grade, agreement = [], []
    for _, r in out.iterrows():
        key = (r["claim"], str(r["recipe"]), _metric_key(r["metric"]))
        hits = ref.loc[pd.Series([k == key for k in ref_keys], index=ref.index, dtype=bool)]
        verdicts = sorted(set(hits["verdict"]))
        if not verdicts:
            grade.append("none")
            agreement.append("no paper-grade verdict")
        elif len(verdicts) == 1:
            grade.append(verdicts[0])
            agreement.append("agrees" if r["verdict"] == verdicts[0] else "DISAGREES")
        else:
            parts = []
            for v in verdicts:
                sizes = sorted(int(n) for n in hits.loc[hits["verdict"] == v, "size"] if not pd.isna(n))
                parts.append(f"{v} at n = {', '.join(map(str, sizes))}")
            grade.append("mixed: " + "; ".join(parts))
            agreement.append("agrees at some sizes" if r["verdict"] in verdicts else "DISAGREES")
    out["paper_grade"] = grade
    out["agreement"] = agreement
    return out


def beside_reference_markdown(tables: dict[str, pd.DataFrame], reference: str) -> str:
    """The tables of :func:`beside_reference` as Markdown, each disagreement in bold."""
    lines = []
    for title, table in tables.items():
        n_dis = int((table["agreement"] == "DISAGREES").sum())
        lines += [f"### {title} ({n_dis} disagreement(s) with {reference})", "",
                  f"| claim (paper) | metric | model | this run | paper-grade ({reference}) | agreement |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for _, r in table.iterrows():
            model = r["recipe"] if pd.isna(r["size"]) else f"{r['recipe']} (n = {int(r['size'])})"
            flag = f"**{r['agreement']}**" if r["agreement"] == "DISAGREES" else r["agreement"]
            lines.append(f"| {r['claim']} ({r['paper']}) | {r['metric']} | {model} | {_verdict(r)} | "
                         f"{r['paper_grade']} | {flag} |")
        lines.append("")
    return "\n".join(lines)


BEGIN: Final = "<!-- verdicts:begin (generated by `python -m tradeoff.claims`; do not edit) -->"
END: Final = "<!-- verdicts:end -->"


def readme_block(tables: dict[str, pd.DataFrame]) -> str:
    """The README's verdict block: per claims table, a count of verdicts and each claim's line."""
    lines = [BEGIN]
    for title, table in tables.items():
        counts = table["verdict"].value_counts()
        summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in stats.VERDICTS)
        lines += ["", f"**{title}** ({summary}; Holm over the table, family-wise level {stats.LEVEL:g}):", ""]
        for _, r in table.iterrows():
            model = r["recipe"] if pd.isna(r["size"]) else f"{r['recipe']} (n = {int(r['size'])})"
            interval = "" if pd.isna(r.get("low")) and pd.isna(r.get("high")) else f" [{_num(r['low'])}, {_num(r['high'])}]"
            lines.append(f"- {r['claim']} ({r['paper']}), {r['metric']}, {model}: {_num(r['difference'])}"
                         f"{interval}, {_verdict(r)}; {int(r['n_seeds'])} seed(s), {int(r['n_images'])} images")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def update_readme(readme: str, block: str) -> str:
    """``readme`` with the text between the verdict markers (inclusive) replaced by ``block``."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if len(pattern.findall(readme)) != 1:
        raise ValueError("README needs exactly one verdict block between the markers "
                         f"{BEGIN!r} and {END!r}")
    return pattern.sub(lambda _: block, readme)


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from tradeoff import io

    ap = argparse.ArgumentParser(prog="python -m tradeoff.claims",
                                 description="Write the README's verdict block from committed claims tables.")
    ap.add_argument("tables", nargs="+", help="TITLE=claims.csv pairs, in the order they appear")
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if the README differs, write nothing")
    args = ap.parse_args(argv)
    tables = {}
    for spec in args.tables:
        title, _, path = spec.partition("=")
        if not path:
            ap.error(f"expected TITLE=path, got {spec!r}")
        tables[title] = pd.read_csv(path)
    text = Path(args.readme).read_text()
    new = update_readme(text, readme_block(tables))
    if args.check:
        return int(new != text)
    if new != text:
        with io.atomic_path(args.readme) as tmp:
            tmp.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
