"""Stage: merge the per-model saliency tables and judge paper Section 4's claims.

Each claim compares every robust (pgd / trades) studied recipe with the standard ones (the mean
over the standard recipes when there are several), per training-set size, on paired per-example
values (the same test images under each model), with the two-level bootstrap over seeds and images
(:mod:`tradeoff.stats`), Holm over the table (:func:`tradeoff.claims.judge_table`):

* ``gradients_align`` (Fig. 2): per image ``abs_grad_mask_corr`` and ``energy_on_mask`` are higher
  for the robust model (paired on the image index);
* ``large_eps_look_like_target`` (Figs. 3-4): the judge labels a larger share of the robust
  model's large-eps examples as their target (paired on source image and target; exact McNemar);
* ``thresholding_filters`` (Madry et al.): the robust model has more thresholding filters (one
  number per model: resampled over seeds only);
* ``linear_sparser`` and ``linear_more_robust`` (App. E): the robust SVM (largest training eps)
  has fewer non-zero weights than the standard one (exact: one deterministic fit), and higher exact
  robust accuracy at every test eps > 0 that it was trained for or beyond (paired over test images).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tradeoff import io, stats
from tradeoff.claims import CLAIM_COLUMNS, Comparison, claims_markdown, judge_table
from tradeoff.stats import Bootstrap, hierarchical_bootstrap, mcnemar_exact

__all__ = ["CLAIM_COLUMNS", "linear_claims", "paired_claims", "wilson_interval", "write_tables"]

ESTIMATOR = (f"paired two-level bootstrap (seeds, then the same images within seeds; {stats.N_RESAMPLES} "
             "resamples), percentile interval, Holm over the table")


def _concat(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def _difference(m: np.ndarray) -> np.ndarray:
    return m[..., -1] - m[..., :-1].mean(-1)


def paired_claims(values: pd.DataFrame, key: list[str], objectives: dict[str, str], metric: str, claim: str,
                  paper: str, *, binary: bool = False, n_resamples: int = stats.N_RESAMPLES) -> list[Comparison]:
    """``values``: columns recipe, size, seed, ``key`` (what pairs rows across models, e.g. the image
    index) and value. Per size and robust recipe: robust minus the standard recipes' mean, > 0,
    on the keys every compared model has, per shared seed. ``binary``: 0/1 values (exact McNemar when
    there is one standard recipe)."""
    comps = []
    for size, group in values.groupby("size", sort=True):
        recipes = sorted(group["recipe"].unique())
        std = [r for r in recipes if objectives.get(r) == "standard"]
        if not std:
            continue
        for recipe in (r for r in recipes if objectives.get(r) != "standard"):
            models = std + [recipe]
            sub = group[group["recipe"].isin(models)]
            seeds = sorted(set.intersection(*(set(sub.loc[sub["recipe"] == m, "seed"]) for m in models)))
            data = []
            for s in seeds:
                wide = (sub[sub["seed"] == s].pivot_table(index=key, columns="recipe", values="value",
                                                          aggfunc="mean")
                        .reindex(columns=models).dropna())
                data.append(wide.to_numpy(dtype=np.float64))
            if not data or any(len(d) == 0 for d in data):
                continue
            boot = hierarchical_bootstrap(data, _difference, n_resamples=n_resamples)
            means = np.mean([d.mean(0) for d in data], axis=0)
            mc = float("nan")
            if binary and len(models) == 2:
                pooled = np.concatenate(data)
                mc = mcnemar_exact(pooled[:, 0] > 0, pooled[:, 1] > 0)[2]
            est = ESTIMATOR + ("; exact McNemar (pooled over seeds)" if binary and len(models) == 2 else "")
            comps.append(Comparison(claim, paper, metric, recipe, int(size), 1, float(means[:-1].mean()),
                                    float(means[-1]), boot, est, mc))
    return comps


def linear_claims(acc: pd.DataFrame, correct: np.ndarray | None = None, eps_test: np.ndarray | None = None,
                  eps_train: np.ndarray | None = None, *, n_resamples: int = stats.N_RESAMPLES) -> list[Comparison]:
    """App. E: the robust SVM of the largest training eps against the standard SVM. ``correct``
    (fits x eps_test x test images, fits in ``eps_train`` order) gives the paired per-image outcomes
    of the accuracy claims; without it they are not made."""
    comps: list[Comparison] = []
    e_max = float(acc["eps_train"].max())
    if e_max == 0:
        return comps
    std, rob = acc[acc["eps_train"] == 0], acc[acc["eps_train"] == e_max]
    digits = str(acc["digits"].iloc[0])
    s_nnz, r_nnz = float(std["n_nonzero"].iloc[0]), float(rob["n_nonzero"].iloc[0])
    exact = Bootstrap(r_nnz - s_nnz, np.full(n_resamples, r_nnz - s_nnz), 1, 0)
    comps.append(Comparison("linear_sparser", "App. E", f"non-zero weights ({digits})", f"robust SVM eps {e_max:g}",
                            np.nan, -1, s_nnz, r_nnz, exact, "exact: one deterministic fit on fixed data"))
    if correct is None or eps_test is None or eps_train is None:
        return comps
    k_std, k_rob = int(np.flatnonzero(eps_train == 0)[0]), int(np.flatnonzero(np.isclose(eps_train, e_max))[0])
    for t in sorted(float(t) for t in acc["eps_test"].unique() if t >= e_max and t > 0):
        j = int(np.flatnonzero(np.isclose(eps_test, t))[0])
        a, b = correct[k_std, j], correct[k_rob, j]
        boot = hierarchical_bootstrap([np.column_stack([a, b]).astype(np.float64)], _difference,
                                      n_resamples=n_resamples)
        comps.append(Comparison("linear_more_robust", "App. E", f"exact l_inf accuracy at eps {t:g} ({digits})",
                                f"robust SVM eps {e_max:g}", np.nan, 1, float(a.mean()), float(b.mean()), boot,
                                "paired bootstrap over test images (one deterministic fit; "
                                f"{n_resamples} resamples); exact McNemar", mcnemar_exact(a, b)[2]))
    return comps


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (95 % by default) of a binomial share: how far the judge's share can
    move by chance with this many examples (treating them as independent)."""
    k, m = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    p = k / m
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    # exactly 0 at k = 0 and 1 at k = n (the formula's value; rounding would leave ~1e-19)
    return np.where(k == 0, 0.0, centre - half), np.where(k == m, 1.0, centre + half)


def write_tables(alignment: list[str], large_eps: list[str], filters: list[str], judges: list[str], linear: str,
                 out: Any, *, objectives: dict[str, str], linear_arrays: str | None = None,
                 n_resamples: int = stats.N_RESAMPLES) -> pd.DataFrame:
    """The merged saliency tables and the claims table; returns the claims."""
    al = _concat(alignment).sort_values(["recipe", "size", "seed", "score", "index"], ignore_index=True)
    io.write_csv(al, out.alignment)
    summ = (al.groupby(["recipe", "size", "score"], sort=True)["value"]
            .agg(mean="mean", std="std", median="median", n="count").reset_index())
    io.write_csv(summ, out.alignment_summary)

    le = _concat(large_eps)
    judge_info = {int(j["seed"]): j for j in (io.read_json(p) for p in judges)}
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
    io.write_csv(jt, out.judge)

    ft = _concat(filters)
    fs = (ft.groupby(["recipe", "size", "seed"], sort=True)
          .agg(n_filters=("filter", "size"), n_thresholding=("thresholding", "sum")).reset_index())
    fs["share_thresholding"] = fs["n_thresholding"] / fs["n_filters"]
    io.write_csv(fs, out.filters)

    claims: list[Comparison] = []
    for score in ("abs_grad_mask_corr", "energy_on_mask"):
        claims += paired_claims(al[al["score"] == score], ["index"], objectives, f"{score} per image",
                                "gradients_align", "Fig. 2", n_resamples=n_resamples)
    le_values = le.assign(value=le["judged_target"].astype(float))
    claims += paired_claims(le_values, ["source", "target"], objectives,
                            "share of large-eps examples the judge labels as the target",
                            "large_eps_look_like_target", "Figs. 3-4", binary=True, n_resamples=n_resamples)
    counts = fs.assign(value=fs["n_thresholding"].astype(float), unit=0)
    claims += paired_claims(counts, ["unit"], objectives, "thresholding first-layer filters (one number per model)",
                            "thresholding_filters", "Madry et al. 2018", n_resamples=n_resamples)
    if linear_arrays is None:
        claims += linear_claims(pd.read_csv(linear), n_resamples=n_resamples)
    else:
        with np.load(linear_arrays) as z:
            claims += linear_claims(pd.read_csv(linear), z["correct"], z["eps_test"], z["eps_train"],
                                    n_resamples=n_resamples)
    table = judge_table(claims)
    io.write_csv(table, out.claims)
    with io.atomic_path(out.claims_md) as tmp:
        tmp.write_text(claims_markdown(table))
    return table

