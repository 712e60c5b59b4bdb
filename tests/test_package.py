"""The package stands alone: its data files are the repository's, and a non-editable install works
from outside the checkout (issue 29)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import REPO

from tradeoff.workflow import costing
from tradeoff.workflow.config import load_yaml, validate_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_packaged_price_table_is_the_benchs() -> None:
    # bench/cpu_levers/cpu_levers.py writes bench/cpu_levers/cpu_levers.csv; the package prices work with its copy
    assert costing.LEVERS_CSV.read_bytes() == (REPO / "bench" / "cpu_levers" / "cpu_levers.csv").read_bytes(), (
        "src/tradeoff/cpu_levers.csv differs from bench/cpu_levers/cpu_levers.csv: cp bench/cpu_levers/cpu_levers.csv src/tradeoff/")


def test_packaged_schema_is_the_workflows() -> None:
    # the workflow validates with workflow/schemas (Snakemake's place); `python -m tradeoff.workflow.costing` with the copy
    assert costing.CONFIG_SCHEMA.read_bytes() == SCHEMA.read_bytes(), (
        "src/tradeoff/config.schema.yaml differs from workflow/schemas/config.schema.yaml: copy it over")


def test_nothing_under_src_finds_a_file_by_its_place_in_the_repository() -> None:
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in sorted((REPO / "src").rglob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1) if "parents[" in line]
    assert not offenders, offenders


def _site_packages(venv: Path) -> Path:
    rel = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    return venv / rel


@pytest.mark.slow
def test_a_non_editable_install_prices_a_config_from_outside_the_checkout(tmp_path: Path) -> None:
    """A wheel of the package, installed (not editable) in a fresh venv that reuses this venv's
    third-party packages (torch, numpy, ...) through a .pth, prints the same costed plan of
    config/cpu.yaml from a folder that holds only that file."""
    # build from a copy, so the checkout gets no build/ or egg-info
    src = tmp_path / "src-copy"
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / part, src / part)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]
    wheels = tmp_path / "wheels"
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
                   check=True, env=env, cwd=tmp_path, capture_output=True, text=True)
    (wheel,) = wheels.glob("tradeoff-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True, env=env,
                   capture_output=True, text=True)
    # this venv's packages, appended to sys.path: a plain path line, so the .pth files there (this
    # venv's editable install of tradeoff among them) are not processed
    (_site_packages(venv) / "reuse-test-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")

    outside = tmp_path / "elsewhere"
    (outside / "config").mkdir(parents=True)
    shutil.copy2(REPO / "config" / "cpu.yaml", outside / "config" / "cpu.yaml")
    where = subprocess.run([str(python), "-c", "import tradeoff; print(tradeoff.__file__)"], cwd=outside, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(_site_packages(venv)), where  # the wheel's copy, not src/ nor the editable one
    proc = subprocess.run([str(python), "-m", "tradeoff.workflow.costing", "config/cpu.yaml"], cwd=outside, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cpu = validate_config(load_yaml(REPO / "config" / "cpu.yaml"), SCHEMA)
    assert proc.stdout.strip() == costing.plan_table(costing.stage_plan(cpu)), proc.stdout
