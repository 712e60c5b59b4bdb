"""The pipeline's MNIST data rule on the full MNIST (local IDX files), and on a corrupt copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow, dry_run_jobs, snakemake

from tradeoff.datasets.mnist import load_npz

pytestmark = pytest.mark.slow


def _with_local_source(work: Path, folder: Path) -> None:
    cfg_path = work / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["mnist"]["data"] = {"source": "local", "path": str(folder)}
    cfg_path.write_text(yaml.safe_dump(cfg))


def test_full_mnist_from_local_idx_files(mnist_dir: Path, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf", REPO / "tests" / "config" / "tiny.yaml", data="none")
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
    work = copy_workflow(tmp_path / "wf", REPO / "tests" / "config" / "tiny.yaml", data="none")
    _with_local_source(work, bad)
    proc = snakemake(work, "results/mnist/data.npz", check=False)
    assert proc.returncode != 0
    log = (work / "logs" / "mnist_data.log").read_text()
    assert "t10k-labels-idx1-ubyte" in log and "DataError" in log
    assert not (work / "results" / "mnist" / "data.npz").exists()
    assert not list((work / "results" / "mnist").glob("*.npz*")), "a partial output was left behind"


def test_source_files_are_inputs_of_the_data_rule(tmp_path: Path) -> None:
    """Replacing a source IDX file re-runs the data rule (and so everything after it); a corrupt
    replacement stops that job naming the file, with nothing left behind."""
    folder = tmp_path / "mnist"
    shutil.copytree(REPO / "data" / "mnist", folder)
    work = copy_workflow(tmp_path / "wf", REPO / "tests" / "config" / "tiny.yaml", data="none")
    _with_local_source(work, folder)
    snakemake(work, "results/mnist/data.npz", "--quiet")
    assert not dry_run_jobs(work, "results/mnist/data.npz")
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:2000])
    assert dry_run_jobs(work, "results/mnist/data.npz") == {"mnist_data": 1}
    assert dry_run_jobs(work)["mnist_train"] > 0  # and what follows it
    proc = snakemake(work, "results/mnist/data.npz", check=False)
    assert proc.returncode != 0
    assert "t10k-labels-idx1-ubyte.gz" in (work / "logs" / "mnist_data.log").read_text()
    assert not (work / "results" / "mnist" / "data.npz").exists()


def test_shipped_source_is_the_default_and_needs_no_shared_data(tmp_path: Path) -> None:
    """The default config reads full MNIST from the project's own data/mnist (no download)."""
    work = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((work / "config" / "config.yaml").read_text())
    assert cfg["mnist"]["data"]["source"] == "shipped"
    snakemake(work, "results/mnist/data.npz", "--quiet")
    data = load_npz(work / "results" / "mnist" / "data.npz")
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (55_000, 5_000, 10_000)
    missing = copy_workflow(tmp_path / "wf2", data="none")
    proc = snakemake(missing, "--dry-run", check=False)
    assert proc.returncode != 0
    out = proc.stderr + proc.stdout
    assert "mnist.data: data/mnist: MNIST folder does not exist" in out and "source to local or download" in out
