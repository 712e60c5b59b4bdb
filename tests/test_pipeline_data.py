"""The pipeline's MNIST data rule on the full MNIST (local IDX files), and on a corrupt copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake

from tradeoff.datasets.mnist import load_npz

pytestmark = pytest.mark.slow


def _with_local_source(work: Path, folder: Path) -> None:
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["mnist"]["data"] = {"source": "local", "path": str(folder)}
    cfg_path.write_text(yaml.safe_dump(cfg))


def test_full_mnist_from_local_idx_files(mnist_dir: Path, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf", REPO / "tests" / "config" / "tiny.yaml")
    _with_local_source(work, mnist_dir)
    snakemake(work, "results/mnist/data.npz", "--quiet")
    data = load_npz(work / "results" / "mnist" / "data.npz")
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert sorted(set(data.y_train.tolist())) == list(range(10))


def test_truncated_idx_file_stops_the_run_naming_it(mnist_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mnist"
    bad.mkdir()
    for f in mnist_dir.glob("*-ubyte*"):
        shutil.copy2(f, bad / f.name)
    labels = bad / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:2000])  # cut mid-stream
    work = copy_workflow(tmp_path / "wf", REPO / "tests" / "config" / "tiny.yaml")
    _with_local_source(work, bad)
    proc = snakemake(work, "results/mnist/data.npz", check=False)
    assert proc.returncode != 0
    log = (work / "logs" / "mnist_data.log").read_text()
    assert "t10k-labels-idx1-ubyte" in log and "DataError" in log
    assert not (work / "results" / "mnist" / "data.npz").exists()
    assert not list((work / "results" / "mnist").glob("*.npz*")), "a partial output was left behind"
