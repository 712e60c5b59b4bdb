r"""Exact worst-case evaluation of linear classifiers, and the tidy metrics table.

For ``f(x) = w.x + b`` and an attack ``||delta|| <= eps`` the worst case is exact:
``min_delta y f(x + delta) = y f(x) - eps ||w||_dual`` (``||.||_1`` for l_inf, ``||.||_2`` for l_2),
so robust accuracy on a finite test set needs no attack algorithm. A point counts as correct only
if that worst-case margin is strictly positive.

The pipeline writes ``results/theory/metrics/<sweep>.csv`` by concatenating
:func:`evaluate_linear` outputs; its columns are :data:`METRIC_COLUMNS`, checked by
:func:`validate_metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tradeoff.theory.model import NORMS, dual_norm, eps_unit, population_accuracy
from tradeoff.theory.model import eta_abs as _eta_abs

__all__ = [
    "BASELINES",
    "CLASSIFIERS",
    "FIT_COLUMNS",
    "METRIC_COLUMNS",
    "TRAIN_NORMS",
    "dual_norm",
    "empirical_accuracy",
    "evaluate_linear",
    "validate_metrics",
    "weight_share_x1",
]

METRIC_COLUMNS: Final[tuple[str, ...]] = (
    "sweep",
    "p",
    "d",
    "eta",
    "eta_abs",
    "n_train",
    "n_test",
    "C",
    "seed",
    "classifier",
    "train_norm",
    "eps_train",
    "eps_train_abs",
    "test_norm",
    "eps_test",
    "eps_test_abs",
    "accuracy_test",
    "accuracy_population",
    "w1_share",
    "objective",
)
"""Columns of the tidy metrics table, in order. ``eps_*`` in units, ``*_abs`` absolute."""

FIT_COLUMNS: Final[tuple[str, ...]] = (
    "sweep", "p", "d", "eta", "n_train", "n_test", "C", "seed", "classifier", "train_norm", "eps_train",
)  # fmt: skip
"""Columns that identify one fitted (or baseline) classifier on one test set."""

CLASSIFIERS: Final[tuple[str, ...]] = ("svm", "robust_svm", "averaging", "sign_x1")
BASELINES: Final[tuple[str, ...]] = ("averaging", "sign_x1")
TRAIN_NORMS: Final[tuple[str, ...]] = ("none", *NORMS)

_STRING_COLUMNS: Final = ("sweep", "classifier", "train_norm", "test_norm")
_INT_COLUMNS: Final = ("d", "n_train", "n_test", "seed")
_FLOAT_COLUMNS: Final = tuple(c for c in METRIC_COLUMNS if c not in _STRING_COLUMNS + _INT_COLUMNS)
_NULLABLE: Final = ("C", "objective")


def empirical_accuracy(
    w: ArrayLike, b: float, X: NDArray[np.floating], y: ArrayLike, eps: float = 0.0, norm: str = "linf"
) -> float:
    """Exact worst-case accuracy on ``(X, y)``: fraction with ``y (w.x + b) - eps ||w||_dual > 0``."""
    w_arr = np.asarray(w, dtype=np.float64).ravel()
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim != 2 or X_arr.shape[1] != w_arr.size or X_arr.shape[0] != y_arr.size:
        raise ValueError(f"shapes do not match: X {X_arr.shape}, w {w_arr.shape}, y {y_arr.shape}")
    if X_arr.shape[0] == 0:
        raise ValueError("empty test set")
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
    margin = y_arr * (X_arr @ w_arr + b) - eps * dual_norm(w_arr, norm)
    return float(np.mean(margin > 0))


def weight_share_x1(w: ArrayLike) -> float:
    """Share of the weight on the robust feature: ``|w_0| / ||w||_2`` (0 for ``w = 0``)."""
    w_arr = np.asarray(w, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(w_arr))
    return 0.0 if norm == 0.0 else float(abs(w_arr[0]) / norm)


def _check_classifier(classifier: str, train_norm: str, eps_train: float, C: float, objective: float) -> None:
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
    if train_norm not in TRAIN_NORMS:
        raise ValueError(f"train_norm must be one of {TRAIN_NORMS}, got {train_norm!r}")
    if classifier == "robust_svm":
        if train_norm == "none" or not eps_train > 0:
            raise ValueError("robust_svm needs train_norm in ('linf', 'l2') and eps_train > 0")
    elif train_norm != "none" or eps_train != 0:
        raise ValueError(f"{classifier} needs train_norm='none' and eps_train=0")
    if classifier in BASELINES:
        if not (math.isnan(C) and math.isnan(objective)):
            raise ValueError(f"baseline {classifier} must have C and objective NaN")
    elif not (math.isfinite(C) and C > 0):
        raise ValueError(f"{classifier} needs a finite C > 0, got {C!r}")


def _checked_inputs(
    w: ArrayLike, X: NDArray[np.floating], test_norms: str | Sequence[str]
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[str, ...]]:
    """``w`` and ``X`` as float64 arrays of matching shapes, and the test norms as a checked tuple."""
    w_arr = np.asarray(w, dtype=np.float64).ravel()
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim != 2 or X_arr.shape[1] < 2 or X_arr.shape[1] != w_arr.size:
        raise ValueError(f"X must be (n, d + 1) with d + 1 = len(w); got X {X_arr.shape}, w {w_arr.shape}")
    norms = (test_norms,) if isinstance(test_norms, str) else tuple(test_norms)
    for norm in norms:
        if norm not in NORMS:
            raise ValueError(f"test norm must be one of {NORMS}, got {norm!r}")
    return w_arr, X_arr, norms


def evaluate_linear(
    w: ArrayLike,
    b: float,
    X: NDArray[np.floating],
    y: ArrayLike,
    *,
    sweep: str,
    p: float,
    eta: float,
    seed: int,
    classifier: str,
    eps_test: Sequence[float],
    test_norms: str | Sequence[str] = NORMS,
    n_train: int = 0,
    C: float = math.nan,
    train_norm: str = "none",
    eps_train: float = 0.0,
    objective: float = math.nan,
) -> pd.DataFrame:
    """Tidy rows (columns :data:`METRIC_COLUMNS`) for one linear classifier on one test set.

    One row per ``(test_norm, eps_test)``; ``eps_test``/``eps_train`` in units
    (:func:`tradeoff.theory.model.eps_unit`), ``eta`` in units of ``1/sqrt(d)``, ``d = X.shape[1] - 1``.
    ``accuracy_test`` is the exact worst-case accuracy on ``(X, y)`` (:func:`empirical_accuracy`),
    ``accuracy_population`` the exact one over D(p, eta, d)
    (:func:`tradeoff.theory.model.population_accuracy`). Baselines: ``n_train`` is free (0 by default),
    ``C`` and ``objective`` stay NaN.
    """
    w_arr, X_arr, norms = _checked_inputs(w, X, test_norms)
    d = X_arr.shape[1] - 1
    C, objective, eps_train = float(C), float(objective), float(eps_train)
    _check_classifier(classifier, train_norm, eps_train, C, objective)
    if n_train < 0:
        raise ValueError(f"n_train must be >= 0, got {n_train!r}")
    eta_a = _eta_abs(eta, d)
    eps_train_abs = 0.0 if train_norm == "none" else eps_train * eps_unit(train_norm, eta_a, d)
    share = weight_share_x1(w_arr)
    fit: dict[str, object] = {  # the columns every row of this classifier shares
        "sweep": str(sweep), "p": float(p), "d": int(d), "eta": float(eta), "eta_abs": eta_a,
        "n_train": int(n_train), "n_test": int(X_arr.shape[0]), "C": C, "seed": int(seed),
        "classifier": classifier, "train_norm": train_norm, "eps_train": eps_train,
        "eps_train_abs": eps_train_abs,
    }
    rows: list[dict[str, object]] = []
    for norm in norms:
        unit = eps_unit(norm, eta_a, d)
        eps_units = np.asarray(eps_test, dtype=np.float64).ravel()
        eps_abs = eps_units * unit
        pop = np.atleast_1d(population_accuracy(w_arr, float(b), p, eta_a, eps_abs, norm))
        for e_u, e_a, acc_pop in zip(eps_units, eps_abs, pop, strict=True):
            rows.append(fit | {
                "test_norm": norm, "eps_test": float(e_u), "eps_test_abs": float(e_a),
                "accuracy_test": empirical_accuracy(w_arr, float(b), X_arr, y, float(e_a), norm),
                "accuracy_population": float(acc_pop), "w1_share": share, "objective": objective,
            })
    df = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    return df.astype({c: "int64" for c in _INT_COLUMNS} | {c: "float64" for c in _FLOAT_COLUMNS})


def _is_string_column(s: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        return not s.isna().any()
    return pd.api.types.is_object_dtype(s.dtype) and bool(s.map(lambda v: isinstance(v, str)).all())


def _checked_schema(df: pd.DataFrame) -> pd.DataFrame:
    """The metrics table's columns, dtypes, missing and non-finite values checked; returns its numeric
    columns as float64."""
    cols = list(df.columns)
    if cols != list(METRIC_COLUMNS):
        missing = [c for c in METRIC_COLUMNS if c not in cols]
        extra = [c for c in cols if c not in METRIC_COLUMNS]
        raise ValueError(f"metrics columns wrong: missing {missing}, extra {extra}, order must be {list(METRIC_COLUMNS)}")
    if df.empty:
        raise ValueError("metrics table has no rows")
    for c in _STRING_COLUMNS:
        if not _is_string_column(df[c]):
            raise ValueError(f"column {c!r} must hold strings only (dtype {df[c].dtype})")
    for c in _INT_COLUMNS:
        if not pd.api.types.is_integer_dtype(df[c].dtype) or pd.api.types.is_bool_dtype(df[c].dtype):
            raise ValueError(f"column {c!r} must be integer (dtype {df[c].dtype})")
    for c in _FLOAT_COLUMNS:
        if not pd.api.types.is_numeric_dtype(df[c].dtype) or pd.api.types.is_bool_dtype(df[c].dtype):
            raise ValueError(f"column {c!r} must be numeric (dtype {df[c].dtype})")
    for c in METRIC_COLUMNS:
        if c not in _NULLABLE and df[c].isna().any():
            raise ValueError(f"column {c!r} has missing values")
    num = df[list(_FLOAT_COLUMNS)].astype("float64")
    if not np.isfinite(num.drop(columns=list(_NULLABLE)).to_numpy()).all():
        raise ValueError("non-finite values in numeric columns")
    return num


def validate_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Check a metrics table (columns, dtypes, ranges, consistency); raise ``ValueError`` naming the problem.

    Returns ``df`` unchanged so it can be chained.
    """
    num = _checked_schema(df)

    def bad(mask: pd.Series, what: str) -> None:
        if bool(mask.any()):
            idx = list(df.index[mask.to_numpy()][:5])
            raise ValueError(f"{what} (rows {idx})")

    bad(~df["p"].between(0.5, 1.0), "p outside [0.5, 1]")
    bad(df["d"] < 1, "d < 1")
    bad(df["n_train"] < 0, "n_train < 0")
    bad(df["n_test"] < 1, "n_test < 1")
    for c in ("eta", "eps_train", "eps_test", "eps_train_abs", "eps_test_abs"):
        bad(num[c] < 0, f"{c} < 0")
    for c in ("accuracy_test", "accuracy_population", "w1_share"):
        bad(~num[c].between(0.0, 1.0), f"{c} outside [0, 1]")
    bad(~df["classifier"].isin(CLASSIFIERS), f"classifier not in {CLASSIFIERS}")
    bad(~df["train_norm"].isin(TRAIN_NORMS), f"train_norm not in {TRAIN_NORMS}")
    bad(~df["test_norm"].isin(NORMS), f"test_norm not in {NORMS}")

    sqrt_d = np.sqrt(df["d"].to_numpy(dtype=np.float64))
    eta_a = num["eta"].to_numpy() / sqrt_d
    bad(pd.Series(~np.isclose(num["eta_abs"], eta_a, rtol=1e-9, atol=1e-12)), "eta_abs != eta / sqrt(d)")

    def unit(norms: pd.Series) -> NDArray[np.float64]:
        # one budget unit (tradeoff.theory.model.eps_unit): eta_abs in l_inf, eta_abs sqrt(d) in l_2; none: 0
        n = norms.to_numpy()
        return np.where(n == "linf", eta_a, np.where(n == "l2", eta_a * sqrt_d, 0.0))

    bad(
        pd.Series(~np.isclose(num["eps_test_abs"], num["eps_test"] * unit(df["test_norm"]), rtol=1e-9, atol=1e-12)),
        "eps_test_abs != eps_test * unit(test_norm)",
    )
    bad(
        pd.Series(~np.isclose(num["eps_train_abs"], num["eps_train"] * unit(df["train_norm"]), rtol=1e-9, atol=1e-12)),
        "eps_train_abs != eps_train * unit(train_norm)",
    )
    robust = df["classifier"] == "robust_svm"
    base = df["classifier"].isin(BASELINES)
    bad(robust & ((df["train_norm"] == "none") | (num["eps_train"] <= 0)), "robust_svm needs train_norm linf/l2 and eps_train > 0")
    bad(~robust & ((df["train_norm"] != "none") | (num["eps_train"] != 0)), "svm/baselines need train_norm 'none' and eps_train 0")
    bad(base & (num["C"].notna() | num["objective"].notna()), "baselines must have C and objective NaN")
    bad(~base & ~(num["C"] > 0), "svm/robust_svm need C > 0")
    key = [c for c in METRIC_COLUMNS if c in FIT_COLUMNS or c in ("test_norm", "eps_test")]
    bad(df.duplicated(subset=key, keep="first"), f"duplicate rows for the same {key}")
    return df
