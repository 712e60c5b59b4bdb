#!/usr/bin/env python
"""Benchmark ``tradeoff.theory.svm.RobustSVC`` against cvxpy + Clarabel on the paper's model.

Data: Tsipras et al. (2019), ``y = +-1``; ``x1 = y`` w.p. ``p`` else ``-y``;
``x2..x_{d+1} ~ N(eta y, 1)`` with ``eta = eta_units / sqrt(d)``. For each training budget
``eps = eps_units * eta`` (linf by default) both solvers minimise the same objective
``1/2||w||^2 + C sum_i max(0, 1 - y_i(w.x_i + b) + eps ||w||_*)``. RobustSVC is fitted
``--repeats`` times (median wall time reported); the general-purpose solver (cvxpy epigraph
formulation, Clarabel interior point) is run once, in a forked child process with a
wall-clock limit. Both solutions are scored with the same exact objective
(:func:`tradeoff.theory.svm.robust_hinge_objective`). If the reference solver exceeds its limit,
that is reported and (unless ``--fallback-n 0``) both solvers are compared on a smaller
instance, labelled as such (``--fallback-always``: compare on it in any case).

Example::

    .venv/bin/python bench/svm/bench_svm.py --n 20000 --d 1000 --repeats 5 --threads 1 \\
        --cvxpy-timeout 600 --fallback-always --output bench/svm/RESULTS_svm.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_info, threadpool_limits

from tradeoff.theory.svm import RobustSVC, robust_hinge_objective

Array = NDArray[np.float64]


def paper_data(n: int, d: int, p: float, eta_units: float,
               seed: int) -> tuple[Array, Array, float]:
    """Sample ``n`` points of the paper's model with ``d`` weak features (``d + 1`` columns)."""
    rng = np.random.default_rng(seed)
    eta = eta_units / np.sqrt(d)
    y = rng.choice([-1.0, 1.0], size=n)
    x1 = np.where(rng.random(n) < p, y, -y)
    X = np.empty((n, d + 1))
    X[:, 0] = x1
    X[:, 1:] = rng.standard_normal((n, d))
    X[:, 1:] += eta * y[:, None]
    return X, y, float(eta)


@dataclass
class Row:
    """One benchmark line."""

    instance: str
    eps_units: float
    eps: float
    ours_times: list[float] = field(default_factory=list)
    ours_obj: float = float("nan")
    ours_gap: float = float("nan")
    ours_iter: int = 0
    ours_kkt: int = 0
    ours_converged: bool = False
    ref_status: str = "not run"
    ref_wall: float = float("nan")
    ref_solve: float = float("nan")
    ref_iters: int = 0
    ref_obj: float = float("nan")


def fit_ours(X: Array, y: Array, C: float, eps: float, norm: str, tol: float, repeats: int,
             row: Row) -> None:
    for _ in range(repeats):
        start = time.perf_counter()
        est = RobustSVC(C=C, eps=eps, norm=norm, tol=tol, max_iter=20000).fit(X, y)
        row.ours_times.append(time.perf_counter() - start)
    row.ours_obj = robust_hinge_objective(est.coef_, est.intercept_[0], X, y, C, eps, norm)
    row.ours_gap = float(est.duality_gap_)
    row.ours_iter = int(est.n_iter_)
    row.ours_kkt = int(est.n_kkt_solves_)
    row.ours_converged = bool(est.converged_)


def _reference_child(X: Array, y: Array, C: float, eps: float, norm: str, threads: int,
                     queue: Any) -> None:
    """Solve with cvxpy + Clarabel (epigraph of the dual norm, slack variables)."""
    import cvxpy as cp

    with threadpool_limits(limits=threads):
        n, d = X.shape
        start = time.perf_counter()
        w, b, t, xi = cp.Variable(d), cp.Variable(), cp.Variable(), cp.Variable(n)
        dual = cp.norm1(w) if norm == "linf" else cp.norm2(w)
        constraints = [xi >= 0, xi >= 1 - cp.multiply(y, X @ w + b) + eps * t, t >= dual]
        problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w) + C * cp.sum(xi)), constraints)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem.solve(solver=cp.CLARABEL)
        wall = time.perf_counter() - start
        stats = problem.solver_stats
        queue.put({
            "status": str(problem.status), "wall": wall,
            "solve": float(stats.solve_time) if stats.solve_time is not None else float("nan"),
            "iters": int(stats.num_iters or 0),
            "w": None if w.value is None else np.asarray(w.value),
            "b": None if b.value is None else float(b.value),
        })


def run_reference(X: Array, y: Array, C: float, eps: float, norm: str, threads: int, timeout: float,
                  row: Row) -> bool:
    """Run the reference solve in a forked child; False if it ran past ``timeout`` seconds."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_reference_child, args=(X, y, C, eps, norm, threads, queue))
    start = time.perf_counter()
    proc.start()
    result = None
    try:
        result = queue.get(timeout=timeout)
    except Exception:  # queue.Empty: time limit reached
        pass
    if result is None:
        proc.kill()
        proc.join()
        row.ref_status = f"timeout (> {timeout:.0f} s, killed)"
        row.ref_wall = time.perf_counter() - start
        return False
    proc.join()
    row.ref_status, row.ref_wall, row.ref_solve, row.ref_iters = (
        result["status"], result["wall"], result["solve"], result["iters"])
    if result["w"] is not None:
        row.ref_obj = robust_hinge_objective(result["w"], result["b"], X, y, C, eps, norm)
    return True


def fmt_table(rows: list[Row], repeats: int) -> str:
    head = ("| instance | eps (units of eta) | RobustSVC median s (min-max, "
            f"{repeats} fits) | iters / KKT solves | certified gap | Clarabel status | "
            "cvxpy+Clarabel wall s (solver s, iters) | time ratio (Clarabel wall / ours) | "
            "objective ours | objective Clarabel | rel. objective diff (Clarabel - ours) |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        med = statistics.median(r.ours_times)
        ours = f"{med:.2f} ({min(r.ours_times):.2f}-{max(r.ours_times):.2f})"
        conv = "" if r.ours_converged else " NOT CONVERGED"
        if np.isfinite(r.ref_obj):
            ref = f"{r.ref_wall:.1f} ({r.ref_solve:.1f}, {r.ref_iters})"
            ratio = f"{r.ref_wall / med:.1f}x"
            diff = f"{(r.ref_obj - r.ours_obj) / max(1.0, abs(r.ours_obj)):+.2e}"
            obj_ref = f"{r.ref_obj:.10g}"
        else:
            ref = f"> {r.ref_wall:.0f}" if r.ref_status.startswith("timeout") else "-"
            ratio = f"> {r.ref_wall / med:.0f}x" if r.ref_status.startswith("timeout") else "-"
            diff, obj_ref = "-", "-"
        lines.append(
            f"| {r.instance} | {r.eps_units:g} | {ours} | {r.ours_iter} / {r.ours_kkt} | "
            f"{r.ours_gap:.1e}{conv} | {r.ref_status} | {ref} | {ratio} | {r.ours_obj:.10g} | "
            f"{obj_ref} | {diff} |")
    return "\n".join(lines)


def versions() -> str:
    import clarabel
    import cvxpy
    import scipy
    import sklearn

    blas = ", ".join(
        sorted({f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()}))
    return (f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}, cvxpy {cvxpy.__version__}, "
            f"clarabel {getattr(clarabel, '__version__', '?')}; BLAS: {blas}; "
            f"{platform.platform()}, {platform.processor() or platform.machine()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="training points")
    ap.add_argument("--d", type=int, default=1_000, help="weak features (X has d + 1 columns)")
    ap.add_argument("--p", type=float, default=0.95)
    ap.add_argument("--eta", type=float, default=4.0, help="weak-feature mean in units of 1/sqrt(d)")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--eps", type=float, nargs="+", default=[2.0, 0.0], help="budgets in units of eta")
    ap.add_argument("--norm", choices=("linf", "l2"), default="linf")
    ap.add_argument("--tol", type=float, default=1e-6, help="RobustSVC relative duality gap")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads (threadpoolctl)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cvxpy-timeout", type=float, default=360.0, help="seconds; 0 skips cvxpy")
    ap.add_argument("--fallback-n", type=int, default=10_000,
                    help="if cvxpy times out, compare on this n as well (0: no fallback)")
    ap.add_argument("--fallback-d", type=int, default=500)
    ap.add_argument("--fallback-always", action="store_true",
                    help="run the smaller instance even if cvxpy finished on the full one")
    ap.add_argument("--output", help="also write a Markdown report here")
    args = ap.parse_args(argv)

    rows: list[Row] = []
    log: list[str] = []

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.append(msg)

    def bench_instance(n: int, d: int, label: str) -> bool:
        X, y, eta = paper_data(n, d, args.p, args.eta, args.seed)
        all_ok = True
        for units in args.eps:
            eps = units * eta
            row = Row(f"{label} n={n}, d={d}", units, eps)
            with threadpool_limits(limits=args.threads):
                fit_ours(X, y, args.C, eps, args.norm, args.tol, args.repeats, row)
            times = [f"{t:.2f}" for t in row.ours_times]
            say(f"[ours] {row.instance} eps={units:g}*eta: times {times} "
                f"objective {row.ours_obj:.10g} gap {row.ours_gap:.1e} iters {row.ours_iter}; "
                f"load average {os.getloadavg()[0]:.2f}")
            if args.cvxpy_timeout > 0:
                ok = run_reference(X, y, args.C, eps, args.norm, args.threads, args.cvxpy_timeout, row)
                all_ok &= ok
                say(f"[cvxpy+clarabel] {row.instance} eps={units:g}*eta: {row.ref_status}, wall "
                    f"{row.ref_wall:.1f} s, solver {row.ref_solve:.1f} s, objective {row.ref_obj:.10g}; "
                    f"load average {os.getloadavg()[0]:.2f}")
            rows.append(row)
        return all_ok

    started = dt.datetime.now(dt.UTC)
    ok = bench_instance(args.n, args.d, "full")
    if args.fallback_n > 0 and (args.fallback_always or not ok):
        if not ok:
            say(f"cvxpy+Clarabel exceeded {args.cvxpy_timeout:.0f} s on the full instance; "
                f"comparing on the smaller fallback instance as well")
        bench_instance(args.fallback_n, args.fallback_d, "smaller")

    table = fmt_table(rows, args.repeats)
    print()
    print(table)
    if args.output:
        command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/svm/bench_svm.py",
                                                     *(sys.argv[1:] if argv is None else argv)])
        report = [
            "# RobustSVC benchmark (bench/svm/bench_svm.py)",
            "",
            f"- date (UTC): {started:%Y-%m-%d %H:%M}",
            f"- command: `{command}`",
            f"- nproc: {os.cpu_count()} (BLAS threads: {args.threads}); the machine was shared with other "
            "jobs (1-min load averages in the log), so wall times are noisy",
            f"- versions: {versions()}",
            f"- data: paper model, p={args.p}, eta={args.eta}/sqrt(d), C={args.C}, norm={args.norm}, "
            f"seed={args.seed}; RobustSVC tol={args.tol} (certified relative duality gap)",
            "",
            table,
            "",
            "Log:",
            "",
            "```",
            *log,
            "```",
            "",
        ]
        with open(args.output, "w") as fh:
            fh.write("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
