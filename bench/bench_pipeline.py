"""Wall time of a pipeline target run cold (fresh copy, nothing built), with 1 core as the baseline.

    python bench/bench_pipeline.py --target theory --cores 1 2 --repeats 3

Prints a Markdown table of median wall times and the speed-up over the first --cores value.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("Snakefile", "workflow", "src", "config", "envs", "pyproject.toml", "profiles")


def cold_run(target: str, cores: int, config: Path | None) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        for part in PARTS:
            src = REPO / part
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / part)
        if config is not None:
            shutil.copy2(config, work / "config" / "config.yaml")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", target, "--cores", str(cores), "--quiet", "all"],
                       cwd=work, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--target", default="theory")
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--config", type=Path, default=None, help="config to run instead of the default")
    args = ap.parse_args()
    print(f"target `{args.target}`, config {args.config or 'config/config.yaml'}, "
          f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}\n")
    print("| cores | runs (s) | median (s) | speed-up vs first |\n| --- | --- | --- | --- |")
    base = None
    for cores in args.cores:
        times = [cold_run(args.target, cores, args.config) for _ in range(args.repeats)]
        med = statistics.median(times)
        base = base or med
        print(f"| {cores} | {', '.join(f'{t:.1f}' for t in times)} | {med:.1f} | {base / med:.2f}x |")


if __name__ == "__main__":
    main()
