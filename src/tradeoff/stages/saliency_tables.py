"""Stage: merge the per-model saliency tables and turn paper Section 4's claims into numbers.

Each claim compares every robust (pgd / trades) studied recipe with the standard ones (the mean
over the standard recipes when there are several), per training-set size, averaged over seeds:

* ``gradients_align`` (Fig. 2): mean ``abs_grad_mask_corr`` and mean ``energy_on_mask`` per image
  are higher for the robust model;
* ``large_eps_look_like_target`` (Figs. 3-4): the judge labels a larger share of the robust
  model's large-eps examples as their target;
* ``thresholding_filters`` (Madry et al.): the robust model has more thresholding filters;
* ``linear_sparser`` and ``linear_more_robust`` (App. E): the robust SVM (largest training eps)
  has fewer non-zero weights than the standard one, and higher exact robust accuracy at every
  test eps > 0 that it was trained for or beyond.

``holds`` is the strict inequality; nothing is thresholded beyond that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tradeoff import io
from tradeoff.claims import CLAIM_COLUMNS, claims_markdown


def _concat(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def _claims_for(per_model: pd.DataFrame, objectives: dict[str, str], metric: str, claim: str,
                paper: str) -> list[dict[str, Any]]:
    """``per_model``: columns recipe, size, value (already averaged over seeds)."""
    rows = []
    for size, group in per_model.groupby("size", sort=True):
        values = group.set_index("recipe")["value"]
        std = [r for r in values.index if objectives.get(r) == "standard"]
        if not std:
            continue
        base = float(values[std].mean())
        for recipe in (r for r in values.index if objectives.get(r) != "standard"):
            v = float(values[recipe])
            rows.append({"claim": claim, "paper": paper, "metric": metric, "recipe": recipe, "size": int(size),
                         "standard": base, "robust": v, "difference": v - base, "holds": bool(v > base)})
    return rows


def linear_claims(acc: pd.DataFrame) -> list[dict[str, Any]]:
    """App. E: the robust SVM of the largest training eps against the standard SVM."""
    rows: list[dict[str, Any]] = []
    e_max = float(acc["eps_train"].max())
    if e_max == 0:
        return rows
    std, rob = acc[acc["eps_train"] == 0], acc[acc["eps_train"] == e_max]
    digits = str(acc["digits"].iloc[0])
    s_nnz, r_nnz = float(std["n_nonzero"].iloc[0]), float(rob["n_nonzero"].iloc[0])
    rows.append({"claim": "linear_sparser", "paper": "App. E", "metric": f"non-zero weights ({digits})",
                 "recipe": f"robust SVM eps {e_max:g}", "size": np.nan, "standard": s_nnz, "robust": r_nnz,
                 "difference": r_nnz - s_nnz, "holds": bool(r_nnz < s_nnz)})
    for t in sorted(float(t) for t in acc["eps_test"].unique() if t >= e_max and t > 0):
        s = float(std.loc[np.isclose(std["eps_test"], t), "accuracy"].iloc[0])
        r = float(rob.loc[np.isclose(rob["eps_test"], t), "accuracy"].iloc[0])
        rows.append({"claim": "linear_more_robust", "paper": "App. E",
                     "metric": f"exact l_inf accuracy at eps {t:g} ({digits})", "recipe": f"robust SVM eps {e_max:g}",
                     "size": np.nan, "standard": s, "robust": r, "difference": r - s, "holds": bool(r > s)})
    return rows


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (95 % by default) of a binomial share: how far the judge's share can
    move by chance with this many examples (treating them as independent)."""
    k, m = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    p = k / m
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    return centre - half, centre + half


def write_tables(alignment: list[str], large_eps: list[str], filters: list[str], judges: list[str], linear: str,
                 out: Any, *, objectives: dict[str, str]) -> pd.DataFrame:
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

    claims: list[dict[str, Any]] = []
    for score in ("abs_grad_mask_corr", "energy_on_mask"):
        per = (al[al["score"] == score].groupby(["recipe", "size", "seed"])["value"].mean()
               .groupby(["recipe", "size"]).mean().rename("value").reset_index())
        claims += _claims_for(per, objectives, f"mean {score} per image", "gradients_align", "Fig. 2")
    per = jt.groupby(["recipe", "size"])["judged_target"].mean().rename("value").reset_index()
    claims += _claims_for(per, objectives, "share of large-eps examples the judge labels as the target",
                          "large_eps_look_like_target", "Figs. 3-4")
    per = fs.groupby(["recipe", "size"])["n_thresholding"].mean().rename("value").reset_index()
    claims += _claims_for(per, objectives, "thresholding first-layer filters", "thresholding_filters",
                          "Madry et al. 2018")
    claims += linear_claims(pd.read_csv(linear))
    table = pd.DataFrame(claims, columns=CLAIM_COLUMNS)
    io.write_csv(table, out.claims)
    with io.atomic_path(out.claims_md) as tmp:
        tmp.write_text(claims_markdown(table))
    return table

