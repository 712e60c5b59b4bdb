"""Stage: fit one SVM (standard, or robust at one eps_train) on one data point, for every seed."""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import numpy as np

from tradeoff import io
from tradeoff.theory import model as theory
from tradeoff.theory.svm import Norm, RobustSVC, robust_hinge_objective

log = logging.getLogger(__name__)


def fit_one(X: np.ndarray, y: np.ndarray, *, C: float, norm: str, eps_abs: float, tol: float,
            max_iter: int) -> dict[str, Any]:
    """Fit sklearn's linear SVC (eps_abs = 0) or our RobustSVC; return weights and diagnostics."""
    if not np.array_equal(np.unique(y), [-1, 1]):
        raise ValueError("labels must be -1 and +1")
    start = time.perf_counter()
    if eps_abs == 0:
        from sklearn.svm import SVC

        clf = SVC(kernel="linear", C=C, tol=1e-6).fit(X, y)
        w, b = clf.coef_.ravel().astype(float), float(clf.intercept_[0])
        info: dict[str, Any] = {"solver": "sklearn.svm.SVC(kernel='linear')", "n_iter": int(np.sum(clf.n_iter_))}
    else:
        est = RobustSVC(C=C, eps=eps_abs, norm=cast(Norm, norm), tol=tol, max_iter=max_iter).fit(X, y)
        w, b = est.coef_.ravel().astype(float), float(est.intercept_[0])
        info = {"solver": "tradeoff.theory.svm.RobustSVC", "n_iter": int(est.n_iter_),
                "duality_gap": float(est.duality_gap_)}
    info.update(
        coef=w.tolist(),
        intercept=b,
        seconds=time.perf_counter() - start,
        objective=float(robust_hinge_objective(w, b, X, y, C, eps_abs, cast(Norm, norm) if eps_abs > 0 else "linf")),
    )
    return info


def fit_point(samples: str, output: str, *, slug: str, p: float, d: int, eta: float, C: float, norm: str,
              eps_train: float, tol: float, max_iter: int, seeds: list[int]) -> None:
    """Fit one model on every seed's training sample; write weights and diagnostics as JSON."""
    eta_abs = theory.eta_abs(eta, d)
    eps_abs = eps_train * theory.eps_unit(norm, eta_abs, d) if eps_train > 0 else 0.0
    fits = []
    with np.load(samples) as data:
        for seed in seeds:
            X, y = theory.load_split(data, "train", seed)
            info = fit_one(X, y, C=C, norm=norm, eps_abs=eps_abs, tol=tol, max_iter=max_iter)
            info["seed"] = seed
            log.info("seed %d: objective %.6g in %.2f s (%s, %d iterations)", seed, info["objective"],
                     info["seconds"], info["solver"], info["n_iter"])
            fits.append(info)
    io.write_json(
        {"point": slug, "p": p, "d": d, "eta": eta, "C": C, "norm": norm, "eps_train": eps_train,
         "eps_train_abs": eps_abs, "fits": fits},
        output,
    )
