"""Stage: merge the per-model saliency tables and judge paper Section 4's claims.

Each claim compares every robust (pgd / trades) studied recipe with the standard ones (the mean
over the standard recipes when there are several), per training-set size, on paired per-example
values (the same test images under each model), at two levels (``docs/CLAIMS.md`` section 1): ``recipe``
(the paired t-test on the per-seed differences) and ``models`` (the bootstrap over images with the seeds
held fixed), Holm within each level of the table (:func:`tradeoff.claims.verdicts.judge_table`):

* ``gradients_align`` (Fig. 2): per image ``abs_grad_mask_corr``, ``energy_on_mask`` and the signed
  ``cosine_to_centered_image`` net of its within-stroke permutation null are higher for the robust
  model (paired on the image index); a panel row holds when all three do;
* ``large_eps_look_like_target`` (Figs. 3-4): per judge of the panel (:mod:`tradeoff.saliency.panel`)
  the robust model's excess (share of large-eps examples labelled as the target over the larger
  control share) exceeds the standard model's (paired on source image and target, the six shares
  resampled jointly); the panel row is the primary (pixel) judge's verdict, per level. Beside it, for the
  pixel judge only: ``large_eps_targeted_random_start`` and ``large_eps_untargeted`` (and
  ``..._untargeted_random_start``; the variants of ``saliency.large_eps.variants``, :data:`VARIANT_CLAIMS`),
  and ``interpolation_toward_target`` (Fig. 4): the share of the straight path from the image to its
  example labelled as the target;
* ``thresholding_filters`` (Madry et al.): each l_inf robust model has more thresholding filters
  (either orientation; one number per model: the exact permutation test over models at the recipe
  level, the exact counts at the models level);
* ``linear_sparser``, ``linear_weak_weight`` and ``linear_more_robust`` (App. E): the robust SVM
  (largest training eps) has fewer non-zero weights than the standard one (true by construction: not
  counted) and a smaller share of its l1 weight on weakly correlated pixels (also the smallest-eps
  robust SVM; exact: one deterministic fit, no p), and higher exact robust accuracy at every test eps
  > 0 that it was trained for or beyond (models level, paired over test images; exact McNemar).

The panel rows' rules (``docs/CLAIMS.md``, section 2) combine verdicts already Holm-corrected, per level; they
add no test of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from tradeoff import io
from tradeoff.claims import stats
from tradeoff.claims.verdicts import (
    CLAIM_COLUMNS,
    ClaimRow,
    claims_markdown,
    exact_row,
    judge_table,
    two_levels,
)
from tradeoff.naming import recipe_labels
from tradeoff.saliency.panel import CONDITIONS, PRIMARY_JUDGE, excess

__all__ = ["CLAIM_COLUMNS", "VARIANT_CLAIMS", "combine", "filter_claims", "interpolation_claims",
           "interpolation_summary", "linear_claims", "paired_claims", "panel_claims", "saliency_claims",
           "wilson_interval", "write_tables"]

ESTIMATOR = (f"paired bootstrap over the same images, seeds held fixed ({stats.N_RESAMPLES} resamples), "
             "percentile interval; Holm within the level")


def _concat(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def _difference(m: np.ndarray) -> np.ndarray:
    return m[..., -1] - m[..., :-1].mean(-1)


def _wide(values: pd.DataFrame, key: list[str], models: list[str]) -> list[tuple[int, np.ndarray]]:
    """Per seed every model has: an (keys, models) array on the keys every model has."""
    seeds = sorted(set.intersection(*(set(values.loc[values["recipe"] == m, "seed"]) for m in models)))
    out = []
    for s in seeds:
        wide = (values[values["seed"] == s].pivot_table(index=key, columns="recipe", values="value", aggfunc="mean")
                .reindex(columns=models).dropna())
        out.append((int(s), wide.to_numpy(dtype=np.float64)))
    return out


def paired_claims(values: pd.DataFrame, key: list[str], objectives: dict[str, str], metric: str, claim: str,
                  paper: str, *, binary: bool = False, n_resamples: int = stats.N_RESAMPLES) -> list[ClaimRow]:
    """``values``: columns recipe, size, seed, ``key`` (what pairs rows across models, e.g. the image
    index) and value. Per size and robust recipe: robust minus the standard recipes' mean, > 0, on the
    keys every compared model has, per shared seed; a ``recipe`` and a ``models`` row
    (:func:`tradeoff.claims.verdicts.two_levels`). ``binary``: 0/1 values (exact McNemar at k = 1)."""
    rows: list[ClaimRow] = []
    for size, group in values.groupby("size", sort=True):
        recipes = sorted(group["recipe"].unique())
        std = [r for r in recipes if objectives.get(r) == "standard"]
        if not std:
            continue
        for recipe in (r for r in recipes if objectives.get(r) != "standard"):
            models = std + [recipe]
            data = [d for _, d in _wide(group[group["recipe"].isin(models)], key, models)]
            if not data or any(len(d) == 0 for d in data):
                continue
            means = np.mean([d.mean(0) for d in data], axis=0)
            rows += two_levels(claim, paper, metric, recipe, int(size), 1, data, _difference, estimator=ESTIMATOR,
                               standard=float(means[:-1].mean()), robust=float(means[-1]), binary=binary,
                               n_resamples=n_resamples)
    return rows


def _panel_difference(m: np.ndarray) -> np.ndarray:
    """Robust excess minus standard excess; ``m[..., :3]`` the standard model's shares (CONDITIONS order),
    ``m[..., 3:]`` the robust model's."""
    return excess(m[..., 3:]) - excess(m[..., :3])


VARIANT_CLAIMS: dict[str, str] = {"targeted": "large_eps_look_like_target",
                                  "targeted_random_start": "large_eps_targeted_random_start",
                                  "untargeted": "large_eps_untargeted",
                                  "untargeted_random_start": "large_eps_untargeted_random_start"}
"""Large-eps variant -> its claim (docs/CLAIMS.md): the primary, targeted from the image, keeps its name."""


def _variant(table: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The rows of one large-eps variant (tables written before the variants existed: all targeted)."""
    if "variant" not in table.columns:
        return table if variant == "targeted" else table.iloc[:0]
    return table[table["variant"] == variant]


def panel_claims(panel: pd.DataFrame, objectives: dict[str, str], *, variant: str = "targeted",
                 judges: list[str] | None = None, n_resamples: int = stats.N_RESAMPLES) -> list[ClaimRow]:
    """The claim of large-eps ``variant`` (:data:`VARIANT_CLAIMS`) per judge (``judges``: those only):
    robust minus standard excess over the controls, on the pairs both models have (targeted: (source,
    target); untargeted: the source image, whose target each model picks), per shared seed (one standard
    recipe: the first); both levels."""
    rows: list[ClaimRow] = []
    claim = VARIANT_CLAIMS[variant]
    key = ["source", "target"] if variant.startswith("targeted") else ["source"]
    panel = _variant(panel, variant)
    if judges is not None:
        panel = panel[panel["judge"].isin(judges)]
    for (size, judge), group in panel.groupby(["size", "judge"], sort=True):
        recipes = sorted(group["recipe"].unique())
        std = [r for r in recipes if objectives.get(r) == "standard"][:1]
        for recipe in (r for r in recipes if std and objectives.get(r) != "standard"):
            data = []
            for s in sorted(set(group.loc[group["recipe"] == std[0], "seed"]) & set(group.loc[group["recipe"] == recipe, "seed"])):
                sub = group[(group["seed"] == s) & group["recipe"].isin([std[0], recipe])]
                wide = (sub.pivot_table(index=key, columns=["recipe", "condition"],
                                        values="judged_target", aggfunc="mean")
                        .reindex(columns=pd.MultiIndex.from_product([[std[0], recipe], list(CONDITIONS)])).dropna())
                if len(wide):
                    data.append(wide.to_numpy(dtype=np.float64))
            if not data:
                continue
            means = np.mean([d.mean(0) for d in data], axis=0)
            what = ("excess of the target share over the larger control share" if len(key) == 2 else
                    "excess of the share labelled as the class the model assigns (not the image's own) over the "
                    "larger control share")
            label = "" if variant == "targeted" else f" ({variant.replace('_', ' ')})"
            unit = "(image, target) pairs" if len(key) == 2 else "images"
            rows += two_levels(claim, "Figs. 3-4", f"{judge} judge: {what}{label}", recipe, int(size), 1, data,
                               _panel_difference, estimator=ESTIMATOR + f"; the six shares resampled jointly over {unit}",
                               standard=float(excess(means[:3])), robust=float(excess(means[3:])),
                               n_resamples=n_resamples)
    return rows


def interpolation_claims(paths: pd.DataFrame, objectives: dict[str, str], *, judge: str = PRIMARY_JUDGE,
                         n_resamples: int = stats.N_RESAMPLES) -> list[ClaimRow]:
    """``interpolation_toward_target`` (Fig. 4): per (image, target) pair of the primary large-eps
    examples (targeted, from the image), the share of the straight path's points after the original
    that ``judge`` labels as the target; robust minus standard (> 0), paired on the pairs; both levels."""
    sub = _variant(paths, "targeted")
    sub = sub[sub["judge"] == judge].rename(columns={"path_share": "value"})
    return paired_claims(sub, ["source", "target"], objectives,
                         f"{judge} judge: share of the interpolation path (points after the original) labelled as the "
                         "target, per (image, target) pair", "interpolation_toward_target", "Fig. 4",
                         n_resamples=n_resamples)


def interpolation_summary(paths: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, size, seed, variant, judge): the mean path share, the share of two-class paths, the
    share whose end the judge labels as the target, and the number of pairs."""
    if "variant" not in paths.columns:
        paths = paths.assign(variant="targeted")
    return (paths.groupby(["recipe", "size", "seed", "variant", "judge"], sort=True)
            .agg(path_share=("path_share", "mean"), two_class=("two_class", "mean"),
                 end_is_target=("end_is_target", "mean"), n_pairs=("path_share", "size")).reset_index())


def combine(table: pd.DataFrame, claim: str, *, need: int | None, label: str, primary: str | None = None) -> pd.DataFrame:
    """``table`` with one *panel* row per (size, recipe, level) of ``claim`` appended: **holds** when at
    least ``need`` of its rows hold (``None``: all of them), **does not hold** when at least ``need`` do
    not (``None``: any), **not testable (k seeds)** when every row is, else inconclusive. ``primary``:
    the verdict is instead that of the row at the same level whose metric starts with ``primary`` (e.g.
    ``"pixel judge"``); inconclusive when there is none. ``difference`` is the number of rows that hold."""
    rows = []
    levels = table["level"] if "level" in table else pd.Series("models", table.index)
    sub = table.assign(level=levels)[table["claim"] == claim]
    for (size, recipe, level), g in sub.groupby(["size", "recipe", "level"], sort=True, dropna=False):
        n, holds, fails = len(g), int((g["verdict"] == "holds").sum()), int((g["verdict"] == "does not hold").sum())
        k = n if need is None else need
        untestable = g["verdict"].astype(str).str.startswith("not testable")
        if untestable.all():
            verdict = str(g["verdict"].iloc[0])
        else:
            verdict = ("holds" if holds >= k else
                       "does not hold" if fails >= (1 if need is None else need) else "inconclusive")
        if primary is not None:
            first = g[g["metric"].astype(str).str.startswith(primary)]
            verdict = str(first["verdict"].iloc[0]) if len(first) else "inconclusive"
        rows.append({**{c: np.nan for c in CLAIM_COLUMNS}, "claim": claim, "paper": g["paper"].iloc[0],
                     "metric": f"panel: rows that hold, of {n} ({label})", "recipe": recipe, "size": size,
                     "level": level, "direction": 1, "difference": float(holds), "verdict": verdict, "reason": "",
                     "counted": True, "per_seed": "", "n_seeds": int(g["n_seeds"].min()),
                     "n_images": int(g["n_images"].min()), "n_resamples": int(g["n_resamples"].min()),
                     "estimator": "combination of the rows above at the same level (docs/CLAIMS.md); no test of its own"})
    if not rows:
        return table
    out = pd.concat([table, pd.DataFrame(rows, columns=CLAIM_COLUMNS)], ignore_index=True)
    first = {c: i for i, c in reversed(list(enumerate(out["claim"])))}  # panel rows follow their claim's rows
    return out.iloc[sorted(range(len(out)), key=lambda i: (first[out["claim"].iloc[i]], i))].reset_index(drop=True)


def filter_claims(counts: pd.DataFrame, objectives: dict[str, str], metric: str) -> list[ClaimRow]:
    """``thresholding_filters``: ``counts`` (recipe, size, seed, value: one number per model). Per size and
    robust recipe against the standard recipes (their mean per seed): ``recipe`` level, the exact
    permutation test over models (:func:`tradeoff.claims.stats.permutation_test`, >= 3 per side); ``models``
    level, these models' counts (exact: no test)."""
    rows: list[ClaimRow] = []
    for size, group in counts.groupby("size", sort=True):
        std = sorted(r for r in group["recipe"].unique() if objectives.get(r) == "standard")
        if not std:
            continue
        s_vals = group[group["recipe"].isin(std)].groupby("seed")["value"].mean()
        for recipe in sorted(r for r in group["recipe"].unique() if objectives.get(r) != "standard"):
            r_vals = group[group["recipe"] == recipe].set_index("seed")["value"]
            shared = sorted(set(s_vals.index) & set(r_vals.index))
            if not shared:
                continue
            rv, sv = r_vals.loc[shared].to_numpy(float), s_vals.loc[shared].to_numpy(float)
            per_seed = tuple(float(v) for v in rv - sv)
            test = stats.permutation_test(rv, sv)
            base = ClaimRow("thresholding_filters", "Madry et al. 2018", metric, recipe, int(size), "recipe", 1,
                            float(sv.mean()), float(rv.mean()), float(rv.mean() - sv.mean()), test,
                            f"exact two-sided permutation test over the {len(rv)} + {len(sv)} models (all "
                            "relabellings); Holm within the level", per_seed)
            rows += [base, replace(base, level="models", test=None,
                                   estimator=f"these {len(rv)} model(s) per side: exact counts, no test")]
    return rows


def linear_claims(acc: pd.DataFrame, correct: np.ndarray | None = None, eps_test: np.ndarray | None = None,
                  eps_train: np.ndarray | None = None, *, n_resamples: int = stats.N_RESAMPLES) -> list[ClaimRow]:
    """App. E: the robust SVM of the largest training eps against the standard SVM (one deterministic
    fit on fixed data: ``exact`` rows, no p). ``linear_sparser`` is true by construction (not counted);
    ``linear_weak_weight`` also for the smallest training eps > 0. ``correct`` (fits x eps_test x test
    images, fits in ``eps_train`` order) gives the paired per-image outcomes of ``linear_more_robust``
    (``models`` level: test images the unit; exact McNemar); without it that claim is not made."""
    rows: list[ClaimRow] = []
    e_max = float(acc["eps_train"].max())
    if e_max == 0:
        return rows
    std, rob = acc[acc["eps_train"] == 0], acc[acc["eps_train"] == e_max]
    digits = str(acc["digits"].iloc[0])
    exact = "exact: one deterministic fit on fixed data (no sampling model, no p)"
    rows.append(exact_row("linear_sparser", "App. E", f"non-zero weights ({digits})", f"robust SVM eps {e_max:g}",
                          np.nan, -1, float(std["n_nonzero"].iloc[0]), float(rob["n_nonzero"].iloc[0]),
                          estimator=exact, counted=False,
                          note="true by construction (the robust l_inf SVM objective contains eps ||w||_1, solved by "
                               "soft-thresholding); not counted"))
    if "weak_weight_share" in acc.columns:
        e_min = float(acc.loc[acc["eps_train"] > 0, "eps_train"].min())
        for e in sorted({e_min, e_max}, reverse=True):
            r = acc[acc["eps_train"] == e]
            clean = r.loc[r["eps_test"] == 0, "accuracy"]
            acc_txt = f", clean {100 * float(clean.iloc[0]):.1f}%" if len(clean) else ""
            rows.append(exact_row("linear_weak_weight", "App. E",
                                  f"share of l1 weight on pixels with |corr(x_j, y)| < "
                                  f"{float(acc['weak_corr'].iloc[0]):g} ({digits})",
                                  f"robust SVM eps {e:g} ({'largest' if e == e_max else 'smallest'} training eps"
                                  f"{acc_txt})", np.nan, -1, float(std["weak_weight_share"].iloc[0]),
                                  float(r["weak_weight_share"].iloc[0]), estimator=exact))
    if correct is None or eps_test is None or eps_train is None:
        return rows
    k_std, k_rob = int(np.flatnonzero(eps_train == 0)[0]), int(np.flatnonzero(np.isclose(eps_train, e_max))[0])
    for t in sorted(float(t) for t in acc["eps_test"].unique() if t >= e_max and t > 0):
        j = int(np.flatnonzero(np.isclose(eps_test, t))[0])
        a, b = correct[k_std, j], correct[k_rob, j]
        data = [np.column_stack([a, b]).astype(np.float64)]
        rows += [x for x in two_levels("linear_more_robust", "App. E", f"exact l_inf accuracy at eps {t:g} ({digits})",
                                       f"robust SVM eps {e_max:g}", np.nan, 1, data, _difference,
                                       estimator="paired bootstrap over test images (one deterministic fit; "
                                                 f"{n_resamples} resamples)", standard=float(a.mean()),
                                       robust=float(b.mean()), binary=True, n_resamples=n_resamples)
                 if x.level == "models"]
    return rows


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (95 % by default) of a binomial share: how far the judge's share can
    move by chance with this many examples (treating them as independent)."""
    k, m = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    p = k / m
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    # exactly 0 at k = 0 and 1 at k = n (the formula's value; rounding would leave ~1e-19)
    return np.where(k == 0, 0.0, centre - half), np.where(k == m, 1.0, centre + half)


def _panel_summary(panel: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, size, seed, variant, judge): each condition's share labelled as the target, the excess, and the
    same among the pairs whose large-eps example fooled its own model (``*_given_success``)."""
    if "variant" not in panel.columns:
        panel = panel.assign(variant="targeted")

    def shares(df: pd.DataFrame) -> pd.DataFrame:
        return df.pivot_table(index=["recipe", "size", "seed", "variant", "judge"], columns="condition",
                              values="judged_target", aggfunc="mean").reindex(columns=list(CONDITIONS))
    allp = shares(panel)
    fooled = shares(panel[panel["success"].astype(bool)]).add_suffix("_given_success")
    out = allp.join(fooled)
    out["excess"] = excess(allp.to_numpy(dtype=np.float64))
    out["excess_given_success"] = excess(fooled.reindex(allp.index).to_numpy(dtype=np.float64))
    out["success_on_model"] = panel[panel["condition"] == "target"].groupby(
        ["recipe", "size", "seed", "variant", "judge"])["success"].mean()
    return out.reset_index()


def _alignment_claims(al: pd.DataFrame, objectives: dict[str, str], n_resamples: int) -> list[ClaimRow]:
    claims: list[ClaimRow] = []
    for score in ("abs_grad_mask_corr", "energy_on_mask"):
        claims += paired_claims(al[al["score"] == score], ["index"], objectives, f"{score} per image",
                                "gradients_align", "Fig. 2", n_resamples=n_resamples)
    wide = al.pivot_table(index=["recipe", "size", "seed", "index"], columns="score", values="value")
    if "cosine_to_centered_image_null" in wide.columns:
        net = (wide["cosine_to_centered_image"] - wide["cosine_to_centered_image_null"]).rename("value").reset_index()
        claims += paired_claims(net, ["index"], objectives,
                                "cosine_to_centered_image minus its within-stroke permutation null, per image",
                                "gradients_align", "Fig. 2", n_resamples=n_resamples)
    return claims


def _judge_table(le: pd.DataFrame, judge_info: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """Per model: the large-eps examples' success on the model and the share the standard judge (of
    the model's seed, ``judge_info``) labels as the target, unconditional (with its Wilson interval) and
    among the examples that fooled the model."""
    jt = (le.groupby(["recipe", "size", "seed"], sort=True)
          .agg(n_examples=("target", "size"), success_on_model=("success", "mean"),
               judged_target=("judged_target", "mean"), mean_distance=("distance", "mean")).reset_index())
    # the judge's agreement on the examples that fooled the attacked model (the attack's own success
    # bounds the unconditional share; this separates "looks like the target" from "the attack failed")
    fooled = le[le["success"].astype(bool)]
    given = fooled.groupby(["recipe", "size", "seed"], sort=True)["judged_target"].mean()
    jt["judged_target_given_success"] = [given.get((r, n, s), np.nan) for r, n, s in
                                         zip(jt["recipe"], jt["size"], jt["seed"], strict=True)]
    lo, hi = wilson_interval(jt["judged_target"].to_numpy() * jt["n_examples"].to_numpy(), jt["n_examples"].to_numpy())
    jt["judged_target_ci95_low"], jt["judged_target_ci95_high"] = lo, hi
    jt["judge_architecture"] = [judge_info[int(s)]["architecture"] for s in jt["seed"]]
    jt["judge_clean_accuracy"] = [judge_info[int(s)]["clean_accuracy"] for s in jt["seed"]]
    jt["judge_n_train"] = [judge_info[int(s)]["n_train"] for s in jt["seed"]]
    return jt


def write_tables(alignment: list[str], large_eps: list[str], filters: list[str], judges: list[str], linear: str,
                 out: Any, *, objectives: dict[str, str], norms: dict[str, str] | None = None,
                 panel: list[str] | None = None, robust_judges: list[str] | None = None,
                 linear_arrays: str | None = None, interpolation: list[str] | None = None,
                 n_resamples: int = stats.N_RESAMPLES, recipes: Sequence[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """The merged saliency tables and the claims table; returns the claims. ``norms``: each studied
    recipe's threat model (the thresholding claim is made for l_inf robust recipes only; None: all);
    ``panel``: the per-model judge-panel tables (None: the large-eps claim is not made); ``robust_judges``:
    the robust judges' histories (their clean accuracy goes into ``judge_panel``); ``interpolation``: the
    per-model path tables (None: the interpolation claim is not made; else their summary goes to
    ``out.interpolation``); ``recipes``: the MNIST recipes' settings, for their display names in
    ``claims.md`` (:func:`tradeoff.naming.recipe_labels`; none: the keys)."""
    al = _concat(alignment).sort_values(["recipe", "size", "seed", "score", "index"], ignore_index=True)
    io.write_csv(al, out.alignment)
    summ = (al.groupby(["recipe", "size", "score"], sort=True)["value"]
            .agg(mean="mean", std="std", median="median", n="count").reset_index())
    io.write_csv(summ, out.alignment_summary)

    le = _concat(large_eps)
    judge_info = {int(j["seed"]): j for j in (io.read_json(p) for p in judges)}
    io.write_csv(_judge_table(le, judge_info), out.judge)

    ft = _concat(filters)
    fs = (ft.groupby(["recipe", "size", "seed"], sort=True)
          .agg(n_filters=("filter", "size"), n_thresholding=("thresholding", "sum")).reset_index())
    fs["share_thresholding"] = fs["n_thresholding"] / fs["n_filters"]
    if "inverted" in ft.columns:  # of the thresholding filters, those of the ReLU(b - a x) orientation
        inv = ft[ft["thresholding"].astype(bool) & ft["inverted"].astype(bool)].groupby(["recipe", "size", "seed"]).size()
        fs["n_inverted"] = [int(inv.get((r, n, s), 0)) for r, n, s in zip(fs["recipe"], fs["size"], fs["seed"], strict=True)]
    io.write_csv(fs, out.filters)

    pt = None
    if panel is not None:
        pt = _concat(panel)
        summary = _panel_summary(pt)
        accuracy = {("standard", int(j["seed"])): j["clean_accuracy"] for j in judge_info.values()}
        accuracy.update({("robust", int(j["seed"])): j["clean_accuracy"] for j in map(io.read_json, robust_judges or [])})
        summary["judge_clean_accuracy"] = [accuracy.get((j, int(s)), np.nan) for j, s in zip(summary["judge"], summary["seed"], strict=True)]
        io.write_csv(summary, out.judge_panel)
    paths = None
    if interpolation is not None:
        paths = _concat(interpolation)
        io.write_csv(interpolation_summary(paths), out.interpolation)
    table = saliency_claims(al, fs, pd.read_csv(linear), objectives=objectives, norms=norms, panel=pt,
                            linear_arrays=linear_arrays, paths=paths, n_resamples=n_resamples)
    io.write_csv(table, out.claims)
    labels = recipe_labels(pd.DataFrame(list(recipes))) if recipes else None
    with io.atomic_path(out.claims_md) as tmp:
        tmp.write_text(claims_markdown(table, labels=labels))
    return table


def saliency_claims(al: pd.DataFrame, fs: pd.DataFrame, linear: pd.DataFrame, *, objectives: dict[str, str],
                    norms: dict[str, str] | None = None, panel: pd.DataFrame | None = None,
                    linear_arrays: str | None = None, paths: pd.DataFrame | None = None,
                    n_resamples: int = stats.N_RESAMPLES) -> pd.DataFrame:
    """The saliency claims table from the merged tables: ``al`` (alignment, per image), ``fs`` (filters,
    per model: ``n_thresholding``), ``linear`` (the SVMs' accuracy table), ``panel`` (the judge panel's
    per-example rows; None: the large-eps claim is not made), ``linear_arrays`` (the SVMs' per-image
    outcomes; None: ``linear_more_robust`` is not made), ``paths`` (every judge's labels along the
    interpolation paths; None: ``interpolation_toward_target`` is not made). The large-eps variants'
    claims (:data:`VARIANT_CLAIMS`, when ``panel`` has them) and the interpolation claim are made for the
    primary judge only. :func:`write_tables` calls it; so does ``python -m tradeoff.workflow.rederive`` on
    committed results."""
    claims: list[ClaimRow] = _alignment_claims(al, objectives, n_resamples)
    if panel is not None:
        claims += panel_claims(panel, objectives, n_resamples=n_resamples)
        for variant in (v for v in VARIANT_CLAIMS if v != "targeted" and len(_variant(panel, v))):
            claims += panel_claims(panel, objectives, variant=variant, judges=[PRIMARY_JUDGE], n_resamples=n_resamples)
    if paths is not None:
        claims += interpolation_claims(paths, objectives, n_resamples=n_resamples)
    linf = {r: o for r, o in objectives.items() if o == "standard" or norms is None or norms.get(r) == "linf"}
    counts = fs[fs["recipe"].isin(linf)].assign(value=lambda d: d["n_thresholding"].astype(float))
    claims += filter_claims(counts, linf, "thresholding first-layer filters, either orientation (one number per model)")
    if linear_arrays is None:
        claims += linear_claims(linear, n_resamples=n_resamples)
    else:
        with np.load(linear_arrays) as z:
            claims += linear_claims(linear, z["correct"], z["eps_test"], z["eps_train"], n_resamples=n_resamples)
    table = judge_table(claims)
    table = combine(table, "gradients_align", need=None, label="holds when all hold")
    return combine(table, "large_eps_look_like_target", need=2, label=f"the {PRIMARY_JUDGE} judge's verdict",
                   primary=f"{PRIMARY_JUDGE} judge")

