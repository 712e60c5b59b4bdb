"""Stage: evaluate every classifier of a sweep on its test sets, exactly and in closed form; the linear
frontier and the theory claims from the merged table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeoff import io
from tradeoff.theory import model as theory
from tradeoff.theory.claims import theory_claims, theory_claims_markdown
from tradeoff.theory.evaluation import METRIC_COLUMNS, evaluate_linear, validate_metrics
from tradeoff.theory.frontier import frontier_table

log = logging.getLogger(__name__)


def evaluate_sweep(samples: list[str], fits: list[str], output: str, *, sweep: str, eps_test: list[float],
                   test_norms: list[str], seeds: list[int]) -> pd.DataFrame:
    """Write the tidy metrics table of one sweep: fitted SVMs and the two baselines, every seed.

    ``samples`` are the sweep's sample files (named ``<point slug>.npz``), ``fits`` its fit files.
    """
    by_point: dict[str, list[dict]] = {}
    for path in fits:
        fit = io.read_json(path)
        by_point.setdefault(fit["point"], []).append(fit)
    frames: list[pd.DataFrame] = []
    for sample_path in samples:
        slug = Path(sample_path).name.removesuffix(".npz")
        point_fits = by_point.pop(slug, [])
        if not point_fits:
            raise ValueError(f"{sample_path}: no fit of sweep {sweep!r} uses this sample")
        first = point_fits[0]
        p, d, eta = float(first["p"]), int(first["d"]), float(first["eta"])
        with np.load(sample_path) as data:
            for seed in seeds:
                X, y = theory.load_split(data, "test", seed)
                n_train = int(data[f"y_train_{seed}"].shape[0])
                common: dict[str, Any] = dict(sweep=sweep, p=p, eta=eta, seed=seed, eps_test=eps_test,
                                              test_norms=test_norms, n_train=n_train)
                for name, (w, b) in (("averaging", theory.averaging_classifier(d)),
                                     ("sign_x1", theory.sign_x1_classifier(d))):
                    frames.append(evaluate_linear(w, b, X, y, classifier=name, **common))
                for fit in point_fits:
                    (one,) = [f for f in fit["fits"] if f["seed"] == seed]
                    robust = fit["eps_train"] > 0
                    frames.append(evaluate_linear(
                        np.asarray(one["coef"]), float(one["intercept"]), X, y,
                        classifier="robust_svm" if robust else "svm",
                        C=float(fit["C"]), train_norm=fit["norm"] if robust else "none",
                        eps_train=float(fit["eps_train"]), objective=float(one["objective"]), **common,
                    ))
        log.info("%s: %d fitted models x %d seeds evaluated", slug, len(point_fits), len(seeds))
    if by_point:
        raise ValueError(f"fits without a sample file: {sorted(by_point)}")
    table = validate_metrics(pd.concat(frames, ignore_index=True)[list(METRIC_COLUMNS)])
    table = table.sort_values(["p", "d", "eta", "n_train", "C", "seed", "classifier", "train_norm", "eps_train",
                               "test_norm", "eps_test"], kind="stable", ignore_index=True)
    io.write_csv(table, output)
    return table


def merge_tables(inputs: list[str], output: str) -> pd.DataFrame:
    """Concatenate the sweeps' tables into one (a point shared by sweeps appears once per sweep)."""
    table = pd.concat([pd.read_csv(path) for path in inputs], ignore_index=True)
    io.write_csv(table, output)
    return table


def frontier_stage(metrics: str, output: str, *, eps_test: float) -> pd.DataFrame:
    """The linear frontier at ``eps_test`` units of every (p, d, eta) in the merged table, both norms."""
    table = frontier_table(pd.read_csv(metrics), eps_test)
    io.write_csv(table, output)
    log.info("%d frontiers, %d rows", table.groupby(["p", "d", "eta", "test_norm"]).ngroups, len(table))
    return table


def claims_stage(metrics: str, frontier: str, outputs: dict[str, str], *, eps_test: float) -> pd.DataFrame:
    """Write the theory claims (``claims`` CSV, ``claims_md`` Markdown) and ``theorem_2_2`` (every point)."""
    table, t22 = theory_claims(pd.read_csv(metrics), pd.read_csv(frontier), eps_test)
    io.write_csv(t22, outputs["theorem_2_2"])
    io.write_csv(table, outputs["claims"])
    io.write_bytes(theory_claims_markdown(table).encode(), outputs["claims_md"])
    log.info("%d claims, %d hold", len(table), int((table["verdict"] == "holds").sum()))
    return table
