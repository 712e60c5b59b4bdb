"""The paper's claims as tidy rows with verdicts under the rules of ``docs/CLAIMS.md``.

A claim builder (``stages/mnist_tables.py``, ``stages/saliency_tables.py``) makes, per comparison (a
claim, metric and robust model against standard), one :class:`ClaimRow` per **level** it is judged at
(``docs/CLAIMS.md`` section 1): ``recipe`` (seeds the unit: :func:`tradeoff.claims.stats.t_test` on the
per-seed differences, ``not testable (k seeds)`` below 3), ``models`` (these k models, test images the
unit: :func:`tradeoff.claims.stats.image_bootstrap`, exact McNemar where k = 1) and ``exact`` (no test).
:func:`two_levels` builds the first two from paired per-image data; :func:`exact_row` and
:func:`shown_row` the others. :func:`judge_table` decides a whole table, Holm within each level
(:func:`tradeoff.claims.stats.decide`); every row carries its per-seed differences, interval, seeds, images
and resamples. ``RULES`` holds each claim's minimum seeds (the recipe level's) and images;
``docs/CLAIMS.md`` states the same numbers (a test compares them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from tradeoff.claims import stats
from tradeoff.claims.stats import Test

__all__ = ["CLAIM_COLUMNS", "NO_VERDICT", "RULES", "ClaimRow", "beside_reference", "beside_reference_markdown",
           "claims_markdown", "exact_row", "shown_recipe", "judge_table", "per_seed_text", "readme_block", "shown_row",
           "tally", "two_levels", "update_readme"]

CLAIM_COLUMNS = ["claim", "paper", "metric", "recipe", "size", "level", "direction", "standard", "robust",
                 "difference", "low", "high", "interval_level", "p", "p_holm", "mcnemar_p", "verdict", "reason",
                 "counted", "per_seed", "n_seeds", "n_images", "n_resamples", "estimator"]
"""``level``: ``recipe``, ``models`` or ``exact`` (``docs/CLAIMS.md`` section 1); ``standard``/``robust``:
the two sides' point values (``standard`` NaN where the claim has none, e.g. a slope); ``difference``:
the statistic (robust - standard, or the slope); ``low``/``high``: its interval at ``interval_level``
(Holm's level for the row's step within its level); ``direction``: +1 if the claim says the statistic
is > 0, -1 if < 0; ``mcnemar_p``: the exact McNemar p-value where the values are paired 0/1 outcomes
of one seed, else NaN; ``reason``: why a row is inconclusive regardless of its interval, or why it is
not counted; ``counted``: whether the tallies count the row (False: true by construction, or shown
without a verdict); ``per_seed``: the per-seed differences, ``; ``-separated."""

NO_VERDICT: Final = "no verdict (shown)"
"""The verdict of a row shown beside a claim without being judged (e.g. each eps level of Fig. 7)."""


@dataclass(frozen=True)
class Rule:
    """What a verdict on a claim needs (``docs/CLAIMS.md`` states the same): the recipe level's minimum
    seeds and the minimum paired images per seed."""

    min_seeds: int
    min_images: int


RULES: Final[dict[str, Rule]] = {
    "robust_lose_standard_accuracy": Rule(3, 1000),
    "adversarial_training_helps_with_few_examples": Rule(3, 1000),
    "adversarial_training_hurts_with_many_examples": Rule(3, 1000),
    "gradients_align": Rule(3, 100),
    "large_eps_look_like_target": Rule(3, 270),
    "large_eps_targeted_random_start": Rule(3, 270),
    "large_eps_untargeted": Rule(3, 30),
    "large_eps_untargeted_random_start": Rule(3, 30),
    "interpolation_toward_target": Rule(3, 270),
    "thresholding_filters": Rule(3, 1),
    "linear_sparser": Rule(1, 0),
    "linear_weak_weight": Rule(1, 0),
    "linear_more_robust": Rule(1, 100),
}
"""Minimum seeds (recipe level; linear SVMs have none) and images per claim (per seed, after pairing)."""


@dataclass(frozen=True)
class ClaimRow:
    """One comparison at one level, before judging. ``test`` None: an ``exact`` row (verdict: the sign of
    ``estimate``) or, with ``shown``, a row printed without a verdict."""

    claim: str
    paper: str
    metric: str
    recipe: str
    size: float
    level: str
    direction: int
    standard: float
    robust: float
    estimate: float
    test: Test | None
    estimator: str
    per_seed: tuple[float, ...] = ()
    mcnemar_p: float = float("nan")
    counted: bool = True
    note: str = ""
    """why the row is not counted (printed in ``reason``)"""
    shown: bool = False


def per_seed_text(values: Sequence[float]) -> str:
    """Per-seed differences as ``a; b; c`` (6 significant digits)."""
    return "; ".join(f"{float(v):.6g}" for v in values)


def two_levels(claim: str, paper: str, metric: str, recipe: str, size: float, direction: int,
               data: Sequence[np.ndarray], statistic: Callable[[np.ndarray], np.ndarray], *, estimator: str,
               standard: float = float("nan"), robust: float = float("nan"), binary: bool = False,
               n_resamples: int = stats.N_RESAMPLES, seed: int = 0) -> list[ClaimRow]:
    """A comparison's ``recipe`` and ``models`` rows from paired per-image data: ``data`` one
    (n_images, models) array per seed (rows paired across models), ``statistic`` of the per-model means
    (vectorised, as :func:`tradeoff.claims.stats.image_bootstrap`). Recipe: the t-test on the per-seed
    statistics; models: the bootstrap over images with the seeds fixed, its p the exact McNemar test's
    where k = 1, ``binary`` and two models."""
    per_seed = tuple(float(statistic(d.mean(0))) for d in data)
    n_images = min(len(d) for d in data)
    recipe_test = stats.t_test(per_seed, n_images=n_images)
    boot = stats.image_bootstrap(data, statistic, n_resamples=n_resamples, seed=seed)
    mc = float("nan")
    if binary and len(data) == 1 and data[0].shape[1] == 2:
        mc = stats.mcnemar_exact(data[0][:, 0] > 0, data[0][:, 1] > 0)[2]
    models_test = stats.bootstrap_test(boot, None if np.isnan(mc) else mc)
    k = len(data)
    recipe_row = ClaimRow(claim, paper, metric, recipe, size, "recipe", direction, standard, robust,
                          recipe_test.estimate, recipe_test,
                          f"paired t-test on the {k} per-seed differences (seeds the unit), t-interval; "
                          "Holm within the level", per_seed)
    models_row = replace(recipe_row, level="models", estimate=boot.estimate, test=models_test, mcnemar_p=mc,
                         estimator=f"these {k} model(s): {estimator}" + ("; p: exact McNemar" if not np.isnan(mc) else ""))
    return [recipe_row, models_row]


def exact_row(claim: str, paper: str, metric: str, recipe: str, size: float, direction: int, standard: float,
              robust: float, *, estimator: str, counted: bool = True, note: str = "") -> ClaimRow:
    """An ``exact`` row: a deterministic difference ``robust - standard``, no test."""
    return ClaimRow(claim, paper, metric, recipe, size, "exact", direction, standard, robust, robust - standard, None,
                    estimator, counted=counted, note=note)


def shown_row(row: ClaimRow, note: str) -> ClaimRow:
    """``row`` printed without a verdict and not counted."""
    return replace(row, counted=False, note=note, shown=True)


def judge_table(rows: Sequence[ClaimRow], *, level: float = stats.LEVEL) -> pd.DataFrame:
    """The claims table (CLAIM_COLUMNS) of one family of claims: each level's judged rows Holm-corrected
    together (:func:`tradeoff.claims.stats.decide`), exact rows decided by their sign, shown rows printed with
    :data:`NO_VERDICT`."""
    if not rows:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    unknown = sorted({r.claim for r in rows} - set(RULES))
    if unknown:
        raise ValueError(f"claims without a rule in tradeoff.claims.verdicts.RULES (docs/CLAIMS.md): {unknown}")
    bad = sorted({r.level for r in rows} - set(stats.LEVELS))
    if bad:
        raise ValueError(f"unknown levels {bad}; expected one of {stats.LEVELS}")
    decided: dict[int, dict[str, float | int | str]] = {}
    for lev in ("recipe", "models"):
        idx = [i for i, r in enumerate(rows) if r.level == lev and r.test is not None and not r.shown]
        tests = [rows[i].test for i in idx]
        verdicts = stats.decide([t for t in tests if t is not None], [rows[i].direction for i in idx],
                                min_images=[RULES[rows[i].claim].min_images for i in idx], level=level)
        decided.update(zip(idx, verdicts, strict=True))
    out = []
    for i, r in enumerate(rows):
        v = decided.get(i)
        if v is None:  # exact or shown: the estimate, no test
            verdict = (NO_VERDICT if r.shown else
                       "holds" if np.sign(r.estimate) == r.direction else "does not hold")
            t = r.test
            v = {"estimate": r.estimate, "low": np.nan, "high": np.nan, "interval_level": np.nan, "p": np.nan,
                 "p_holm": np.nan, "verdict": verdict, "reason": "",
                 "n_seeds": t.n_seeds if t is not None else len(r.per_seed) or 1,
                 "n_images": t.n_images if t is not None else 0, "n_resamples": t.n_resamples if t is not None else 0}
        reason = "; ".join(s for s in (str(v["reason"]), r.note) if s)
        out.append({"claim": r.claim, "paper": r.paper, "metric": r.metric, "recipe": r.recipe, "size": r.size,
                    "level": r.level, "direction": r.direction, "standard": r.standard, "robust": r.robust,
                    "difference": v["estimate"], "low": v["low"], "high": v["high"],
                    "interval_level": v["interval_level"], "p": v["p"], "p_holm": v["p_holm"],
                    "mcnemar_p": r.mcnemar_p, "verdict": v["verdict"], "reason": reason, "counted": r.counted,
                    "per_seed": per_seed_text(r.per_seed), "n_seeds": v["n_seeds"], "n_images": v["n_images"],
                    "n_resamples": v["n_resamples"], "estimator": r.estimator})
    return pd.DataFrame(out, columns=CLAIM_COLUMNS)


def tally(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per level, the counted rows' verdicts (``not testable (k seeds)`` counted as ``not testable``);
    each comparison once (rows shown without a verdict and rows true by construction are not counted).
    A table without ``level``/``counted`` columns (the old rules) is one level, ``all``, every row counted."""
    t = table.copy()
    if "level" not in t:
        t["level"] = "all"
    if "counted" not in t:
        t["counted"] = True
    t = t[t["counted"].astype(bool)]
    out: dict[str, dict[str, int]] = {}
    for lev, g in t.groupby("level", sort=False):
        kinds = g["verdict"].astype(str).map(lambda v: "not testable" if v.startswith("not testable") else v)
        out[str(lev)] = {v: int((kinds == v).sum()) for v in stats.VERDICTS}
    return out


def _num(v: float) -> str:
    return "—" if pd.isna(v) else f"{v:.4g}"


def _verdict(r: pd.Series) -> str:
    v = str(r["verdict"])
    text = {"holds": "holds", "does not hold": "**does not hold**", "inconclusive": "*inconclusive*"}.get(v, f"*{v}*")
    return text + (f" ({r['reason']})" if isinstance(r.get("reason"), str) and r["reason"] else "")


def _level(r: pd.Series) -> str:
    return str(r["level"]) if "level" in r and isinstance(r["level"], str) else "—"


def shown_recipe(key: str, labels: Mapping[str, str] | None = None) -> str:
    """A recipe as the tables show it: its display name (:func:`tradeoff.naming.recipe_labels`) with
    its key, which the CSVs use, beside it (``PGD ℓ∞ ε=0.3 (`linf-0.3`)``); the key alone without one."""
    name = labels.get(key, key) if labels else key
    return key if name == key else f"{name} (`{key}`)"


def _model(r: pd.Series, labels: Mapping[str, str] | None = None) -> str:
    shown = shown_recipe(str(r["recipe"]), labels)
    return shown if pd.isna(r["size"]) else f"{shown} (n = {int(r['size'])})"


def _interval(r: pd.Series) -> str:
    if pd.isna(r.get("interval_level")):
        return f"{_num(r['difference'])}"
    return f"{_num(r['difference'])} [{_num(r['low'])}, {_num(r['high'])}] ({100 * r['interval_level']:.2f}%)"


def _per_seed(r: pd.Series) -> str:
    v = r.get("per_seed")
    return "—" if not isinstance(v, str) or not v else v.replace("; ", ", ")


def claims_markdown(table: pd.DataFrame, notes: Sequence[str] = (), labels: Mapping[str, str] | None = None) -> str:
    """A claims table as Markdown: one line per (claim, metric, robust model, level), each verdict with
    its interval (Holm level within its level), p, per-seed differences, seeds, images and resamples;
    then the per-level tally (:func:`tally`) and ``notes`` (e.g. a rise at small eps, said plainly).
    ``labels``: recipe key -> display name (:func:`shown_recipe`)."""
    lines = ["| claim (paper) | metric | robust model | level | standard | robust | difference [interval] | p (Holm) | "
             "verdict | per-seed differences | seeds | images | resamples |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for _, r in table.iterrows():
        sign = ">" if int(r["direction"]) > 0 else "<"
        p = "—" if pd.isna(r["p"]) else f"{_num(r['p'])} ({_num(r['p_holm'])})"
        lines.append(f"| {r['claim']} ({r['paper']}) | {r['metric']} (claim: {sign} 0) | {_model(r, labels)} | {_level(r)} | "
                     f"{_num(r['standard'])} | {_num(r['robust'])} | {_interval(r)} | {p} | {_verdict(r)} | "
                     f"{_per_seed(r)} | {int(r['n_seeds'])} | {int(r['n_images'])} | {int(r['n_resamples'])} |")
    lines += ["", "Tally (each comparison once; rows true by construction or shown without a verdict not counted): "
              + "; ".join(f"{lev}: " + ", ".join(f"{n} {v}" for v, n in c.items()) for lev, c in tally(table).items())]
    lines += [""] + [f"- {n}" for n in notes] if notes else []
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
    Nothing forces agreement: a disagreement is flagged, not resolved. Rows match on ``level`` too where
    both tables have one; a row of ours that is ``not testable`` or shown without a verdict is ``not
    compared``."""
    out = table.copy()
    ref = reference if reference is not None else pd.DataFrame(columns=["claim", "recipe", "metric", "size", "verdict"])
    levels = "level" in ref and "level" in out
    ref_keys = list(zip(ref["claim"], ref["recipe"].astype(str), ref["metric"].map(_metric_key),
                        ref["level"] if levels else [""] * len(ref), strict=True))
    grade, agreement = [], []
    for _, r in out.iterrows():
        key = (r["claim"], str(r["recipe"]), _metric_key(r["metric"]), r["level"] if levels else "")
        hits = ref.loc[pd.Series([k == key for k in ref_keys], index=ref.index, dtype=bool)]
        verdicts = sorted(set(hits["verdict"]))
        ours = str(r["verdict"])
        if ours.startswith("not testable") or ours == NO_VERDICT:
            grade.append(", ".join(verdicts) if verdicts else "none")
            agreement.append(f"not compared (this run: {ours})")
        elif not verdicts:
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


def beside_reference_markdown(tables: dict[str, pd.DataFrame], reference: str,
                              labels: Mapping[str, str] | None = None) -> str:
    """The tables of :func:`beside_reference` as Markdown, each disagreement in bold; ``labels``: recipe
    key -> display name (:func:`shown_recipe`), so that recipes read as in the figures and claims tables."""
    lines = []
    for title, table in tables.items():
        n_dis = int((table["agreement"] == "DISAGREES").sum())
        lines += [f"### {title} ({n_dis} disagreement(s) with {reference})", "",
                  f"| claim (paper) | metric | model | level | this run | paper-grade ({reference}) | agreement |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for _, r in table.iterrows():
            flag = f"**{r['agreement']}**" if r["agreement"] == "DISAGREES" else r["agreement"]
            lines.append(f"| {r['claim']} ({r['paper']}) | {r['metric']} | {_model(r, labels)} | {_level(r)} | "
                         f"{_verdict(r)} | {r['paper_grade']} | {flag} |")
        lines.append("")
    return "\n".join(lines)


BEGIN: Final = "<!-- verdicts:begin (generated by `python -m tradeoff.claims.verdicts`; do not edit) -->"
END: Final = "<!-- verdicts:end -->"


def readme_block(tables: dict[str, pd.DataFrame]) -> str:
    """The verdict block of docs/RESULTS.md: per claims table, the verdicts counted per level (:func:`tally`) and
    each row's line (its level, per-seed differences; rows not counted say why)."""
    lines = [BEGIN]
    for title, table in tables.items():
        summary = "; ".join(f"{lev}: " + ", ".join(f"{n} {v}" for v, n in c.items())
                            for lev, c in tally(table).items())
        lines += ["", f"**{title}** ({summary}; Holm within each level of the table, family-wise level "
                      f"{stats.LEVEL:g}; each comparison counted once):", ""]
        for _, r in table.iterrows():
            interval = "" if pd.isna(r.get("low")) and pd.isna(r.get("high")) else f" [{_num(r['low'])}, {_num(r['high'])}]"
            level = f" [{r['level']}]" if "level" in r else ""
            seeds = f"; per seed {_per_seed(r)}" if _per_seed(r) != "—" else ""
            lines.append(f"- {r['claim']} ({r['paper']}){level}, {r['metric']}, {_model(r)}: {_num(r['difference'])}"
                         f"{interval}, {_verdict(r)}; {int(r['n_seeds'])} seed(s), {int(r['n_images'])} images{seeds}")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def update_readme(readme: str, block: str) -> str:
    """``readme`` with the text between the verdict markers (inclusive) replaced by ``block``."""
    try:
        return update_block(readme, block, BEGIN, END)
    except ValueError:
        raise ValueError(f"the page needs exactly one verdict block between the markers {BEGIN!r} and {END!r}") from None


KEY_BEGIN: Final = "<!-- key-results:begin (generated by `python -m tradeoff.claims.verdicts --key-results`; do not edit) -->"
KEY_END: Final = "<!-- key-results:end -->"


def _pct(v: float | None) -> str:
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * float(v):.2f}%"


def _accuracy_cell(result: dict[str, Any] | None) -> str:
    if result is None or result.get("accuracy") is None:
        return "not run"
    return f"{_pct(result['accuracy'])} ({result['n']:,})"


def headline_rows(folder: str | Path) -> list[dict[str, str]]:
    """One row per committed headline model (``<name>.test.json`` in ``folder``, with a
    ``<name>.autoattack.test.json`` beside it where AutoAttack ran apart): its recipe in words and its
    test-set accuracies (clean, PGD-50 x 10, AutoAttack), each with the number of test images."""
    import json

    rows = []
    for path in sorted(Path(folder).glob("*.test.json")):
        if path.name.endswith(".autoattack.test.json"):
            continue
        record = json.loads(path.read_text())
        results = {r["attack"]: r for r in record["results"]}
        extra = path.with_name(path.name.replace(".test.json", ".autoattack.test.json"))
        if extra.exists():
            results.update({r["attack"]: r for r in json.loads(extra.read_text())["results"]})
        tc = record["train_config"]
        objective = (f"TRADES (beta {tc['trades_beta']:g})" if tc["objective"] == "trades"
                     else f"{tc['objective'].upper()}-{tc['steps']}")
        threat = results["pgd"]["spec"]
        what = f"{tc['model']} net, {objective} at {tc['norm']} {tc['eps']:g}, {tc['epochs']} epochs"
        cells = {a: _accuracy_cell(results.get(a)) for a in ("clean", "pgd", "autoattack")}
        rows.append({"model": f"`{path.name.removesuffix('.test.json')}`", "recipe": what,
                     "threat": f"{threat['norm']} {threat['eps']:g}", **cells})
    return rows


def key_results_block(tables: dict[str, pd.DataFrame], headline: str | Path) -> str:
    """The README's key results: the headline models' test accuracies (:func:`headline_rows`) and,
    per claims table and level, the verdicts counted (:func:`tally`)."""
    lines = [KEY_BEGIN, "", "| headline model | recipe | threat | clean | PGD-50 x 10 | AutoAttack |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['recipe']} | {r['threat']} | {r['clean']} | {r['pgd']} | {r['autoattack']} |"
              for r in headline_rows(headline)]
    lines += ["", "| claims table | level | holds | does not hold | inconclusive | not testable |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for title, table in tables.items():
        for lev, counts in tally(table).items():
            lines.append(f"| {title} | {lev} | " + " | ".join(str(counts[v]) for v in stats.VERDICTS) + " |")
    lines += ["", KEY_END]
    return "\n".join(lines) + "\n"


def update_block(text: str, block: str, begin: str, end: str) -> str:
    """``text`` with the lines between the markers ``begin`` and ``end`` (inclusive) replaced by ``block``."""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"expected exactly one block between the markers {begin!r} and {end!r}")
    return pattern.sub(lambda _: block, text)


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from tradeoff import io

    ap = argparse.ArgumentParser(prog="python -m tradeoff.claims.verdicts",
                                 description="Write the verdict block (docs/RESULTS.md) and the README's "
                                             "key results from committed claims tables.")
    ap.add_argument("tables", nargs="+", help="TITLE=claims.csv pairs, in the order they appear")
    ap.add_argument("--readme", default="docs/RESULTS.md", help="the page that holds the verdict block")
    ap.add_argument("--key-results", metavar="README", default=None,
                    help="also write the key-results block of this file (headline models and verdict counts)")
    ap.add_argument("--headline", default="docs/results/cpu/headline",
                    help="the committed headline models' folder (for --key-results)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a page differs, write nothing")
    args = ap.parse_args(argv)
    tables = {}
    for spec in args.tables:
        title, _, path = spec.partition("=")
        if not path:
            ap.error(f"expected TITLE=path, got {spec!r}")
        tables[title] = pd.read_csv(path)
    pages = [(Path(args.readme), lambda t: update_readme(t, readme_block(tables)))]
    if args.key_results:
        block = key_results_block(tables, args.headline)
        pages.append((Path(args.key_results), lambda t: update_block(t, block, KEY_BEGIN, KEY_END)))
    differs = False
    for page, update in pages:
        text = page.read_text()
        new = update(text)
        differs |= new != text
        if new != text and not args.check:
            with io.atomic_path(page) as tmp:
                tmp.write_text(new)
    return int(differs and args.check)


if __name__ == "__main__":
    raise SystemExit(_main())
