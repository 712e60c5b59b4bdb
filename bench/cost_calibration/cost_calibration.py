"""Calibrate the costed plan (``tradeoff.workflow.costing``) on a finished run: measured job times / estimates.

Reads the run's Snakemake benchmarks (``benchmarks/mnist_train/...tsv``, ``benchmarks/mnist_eval/...tsv``:
wall seconds of each job, one thread each) and the config it ran, and prices the same jobs with
``tradeoff.workflow.costing`` (2-thread rates). Two one-thread jobs run side by side on the 2 cores, so a job's
one-thread wall time is set against twice its 2-thread estimate. Prints one line per job and the
median ratio per rule and overall: the ``CALIBRATION`` of ``tradeoff.workflow.costing``. Also the other
rules' total job seconds (theory, tables, figures: not priced, measured).

    .venv/bin/python bench/cost_calibration/cost_calibration.py --config config/config.yaml --workdir . [--out CSV]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

from tradeoff.workflow.config import load_yaml, validate_config
from tradeoff.workflow.costing import Prices, eval_seconds, train_seconds
from tradeoff.workflow.plan import mnist_recipes

ROOT = Path(__file__).resolve().parents[2]


def _seconds(tsv: Path) -> float:
    with open(tsv, newline="") as fh:
        return float(next(csv.DictReader(fh, delimiter="\t"))["s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--workdir", default=str(ROOT))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    config = validate_config(load_yaml(args.config), ROOT / "workflow" / "schemas" / "config.schema.yaml")
    recipes = mnist_recipes(config)
    precision = config["mnist"].get("precision", "fp32")
    prices = Prices.from_csv()
    bench = Path(args.workdir) / "benchmarks"
    rows = []
    for rule in ("mnist_train", "mnist_eval"):
        for tsv in sorted((bench / rule).glob("*/n~*/seed~*.tsv")):
            recipe, size = tsv.parent.parent.name, int(tsv.parent.name.split("~")[1])
            est = (train_seconds(recipes[recipe], size, prices, precision) if rule == "mnist_train"
                   else eval_seconds(config, recipes[recipe], prices, recipe))
            measured = _seconds(tsv)
            rows.append({"rule": rule, "job": str(tsv.relative_to(bench / rule).with_suffix("")),
                         "measured_s": round(measured, 1), "estimate_2threads_s": round(est, 1),
                         "ratio": round(measured / (2 * est), 3)})
    if not rows:
        sys.exit(f"no mnist_train/mnist_eval benchmarks under {bench}")
    other = sum(_seconds(t) for t in bench.rglob("*.tsv")
                if t.relative_to(bench).parts[0] not in ("mnist_train", "mnist_eval"))
    for r in rows:
        print(f"{r['rule']:<12} {r['job']:<40} {r['measured_s']:>8} s  est {r['estimate_2threads_s']:>7} s  "
              f"ratio {r['ratio']}")
    for rule in ("mnist_train", "mnist_eval"):
        ratios = [r["ratio"] for r in rows if r["rule"] == rule]
        if ratios:
            print(f"median ratio {rule}: {statistics.median(ratios):.3f} ({len(ratios)} jobs)")
    print(f"median ratio, all torch jobs: {statistics.median(r['ratio'] for r in rows):.3f}")
    print(f"other rules' job seconds (theory, tables, figures, saliency, ...): {other:.0f}")
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
