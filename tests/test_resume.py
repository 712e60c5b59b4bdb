"""Resuming a staged run on another machine (issue 30, item 4): a stage's models published with
their weights, the clone wiped, the published models restored into a fresh clone, and the next
stage trains nothing it already had; a file that differs from its digest is refused by name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from tradeoff.workflow.publish import RESUME, PublishError, RestoreError, main, publish, restore

WEIGHTS = "mnist/models/{recipe}/n~{size}/seed~{seed}/weights.safetensors"
EVAL = "mnist/eval/{recipe}/n~{size}/seed~{seed}"


def _clone(root: Path) -> Path:
    """A stand-in for a clone that ran one model and its evaluation: the files as the workflow names
    them, each with the record Snakemake keeps of the job that made it (written by Snakemake's code)."""
    import torch
    from snakemake.persistence import MetadataRecord
    from snakemake.persistence.file import FilePersistence

    from tradeoff.nets.checkpoints import save_weights

    results = root / "results"
    _data(results, np.arange(12, dtype=np.float32))
    weights = results / WEIGHTS.format(recipe="standard", size=10, seed=0)
    weights.parent.mkdir(parents=True)
    torch.manual_seed(0)
    save_weights(torch.nn.Linear(2, 2), weights, {"architecture": "x", "recipe": "standard", "size": "10", "seed": "0"})
    (weights.parent / "history.json").write_text('{"epochs": []}')
    stem = results / EVAL.format(recipe="standard", size=10, seed=0)
    stem.parent.mkdir(parents=True)
    for suffix, text in ((".csv", "recipe,accuracy\nstandard,0.9\n"), (".sanity.json", "{}"), (".outcomes.npz", "x")):
        Path(f"{stem}{suffix}").write_text(text)
    store = FilePersistence(nolock=True, path=root / ".snakemake")
    for path in [weights, weights.parent / "history.json"] + [Path(f"{stem}{s}") for s in (".csv", ".sanity.json",
                                                                                          ".outcomes.npz")]:
        rule = "mnist_eval" if "/eval/" in str(path) else "mnist_train"
        store._write_record(str(path.relative_to(root)), MetadataRecord(  # noqa: SLF001
            rule=rule, params=["'recipe-of-" + rule + "'"], record_format_version=6, input=["results/mnist/data.npz"]))
    return results


def _data(results: Path, x: np.ndarray) -> Path:
    path = results / "mnist" / "data.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x=x)
    return path


def test_a_stage_publishes_its_weights_with_their_digests_and_snakemake_records(tmp_path: Path) -> None:
    results, dest = _clone(tmp_path / "first"), tmp_path / "published"
    written = {p.as_posix() for p in publish(results, dest, stage=True)}
    weights = WEIGHTS.format(recipe="standard", size=10, seed=0)
    assert weights in written and RESUME in written
    assert (dest / weights).read_bytes() == (results / weights).read_bytes()
    record = json.loads((dest / RESUME).read_text())
    assert set(record["files"]) == written - {RESUME}
    assert record["files"][weights]["snakemake"]["params"] == ["'recipe-of-mnist_train'"]
    assert record["files"][weights]["layer"] == 0 and record["files"][EVAL.format(
        recipe="standard", size=10, seed=0) + ".csv"]["layer"] == 1


def test_restore_puts_files_and_records_back_newer_than_rebuilt_data(tmp_path: Path) -> None:
    from snakemake.persistence.file import FilePersistence

    published = tmp_path / "published"
    publish(_clone(tmp_path / "first"), published, stage=True)
    fresh = tmp_path / "second" / "results"
    data = _data(fresh, np.arange(12, dtype=np.float32))  # the same arrays, rebuilt: other bytes in the zip
    os.utime(data, (os.stat(data).st_mtime + 0.5,) * 2)
    main(["--restore", str(published), str(fresh)])
    weights = fresh / WEIGHTS.format(recipe="standard", size=10, seed=0)
    table = Path(f"{fresh / EVAL.format(recipe='standard', size=10, seed=0)}.csv")
    assert weights.read_bytes() == (published / WEIGHTS.format(recipe="standard", size=10, seed=0)).read_bytes()
    assert data.stat().st_mtime < weights.stat().st_mtime < table.stat().st_mtime
    assert weights.stat().st_mtime == weights.with_name("history.json").stat().st_mtime
    store = FilePersistence(nolock=True, path=tmp_path / "second" / ".snakemake")
    assert store._read_record(str(weights.relative_to(tmp_path / "second"))).params == [  # noqa: SLF001
        "'recipe-of-mnist_train'"]
    restore(published, fresh)  # again: the same files are there, nothing to refuse


def test_a_restored_file_that_differs_from_its_digest_is_refused_by_name_and_nothing_is_written(
        tmp_path: Path) -> None:
    from tradeoff.workflow.manifest import init

    root = tmp_path / "docs" / "results"
    root.mkdir(parents=True)
    init(root)
    published = root / "cpu"
    publish(_clone(tmp_path / "first"), published, stage=True)
    weights = WEIGHTS.format(recipe="standard", size=10, seed=0)
    fresh = tmp_path / "second" / "results"
    _data(fresh, np.arange(12, dtype=np.float32))
    corrupt = bytearray((published / weights).read_bytes())
    corrupt[-1] ^= 1  # one tensor byte: the header is intact
    (published / weights).write_bytes(bytes(corrupt))
    with pytest.raises(RestoreError) as err:
        restore(published, fresh)
    assert f"{published / weights}: differs from its SHA-256 in {published / RESUME}" in str(err.value)
    assert f"{published / weights}: differs from its SHA-256 in {root / 'MANIFEST.json'}" in str(err.value)
    assert not (fresh / "mnist" / "models").exists() and not (tmp_path / "second" / ".snakemake").exists()
    # the digest in resume.json edited to match: the results manifest still names the file (and resume.json)
    record = json.loads((published / RESUME).read_text())
    from tradeoff.stages.provenance import _sha256

    record["files"][weights]["sha256"] = _sha256(str(published / weights))
    (published / RESUME).write_text(json.dumps(record))
    with pytest.raises(RestoreError, match=rf"{published / RESUME}: differs from its SHA-256 in .*MANIFEST.json"):
        restore(published, fresh)
    assert not (fresh / "mnist" / "models").exists()


def test_other_or_missing_data_and_unrecorded_models_are_refused(tmp_path: Path) -> None:
    first = _clone(tmp_path / "first")
    published = tmp_path / "published"
    publish(first, published, stage=True)
    fresh = tmp_path / "second" / "results"
    with pytest.raises(SystemExit, match=r"data.npz: missing; build the data first \(snakemake --cores 1 results/"):
        main(["--restore", str(published), str(fresh)])
    _data(fresh, np.arange(12, dtype=np.float32) + 1)
    with pytest.raises(RestoreError, match="data.npz: other data than the models were trained on"):
        restore(published, fresh)
    assert not (fresh / "mnist" / "models").exists()
    # a model that Snakemake has no record of cannot be published for resumption
    import shutil

    shutil.rmtree(tmp_path / "first" / ".snakemake" / "metadata")
    with pytest.raises(PublishError, match=r"weights.safetensors: no record in .*metadata \(Snakemake's record"):
        publish(first, tmp_path / "elsewhere", stage=True)
    assert not (tmp_path / "elsewhere").exists()


def _staged_config(path: Path) -> Path:
    """tests/config/tiny.yaml with its models in two stages: a (standard), b (linf-0.3), at one size
    (300; the staging does not depend on the size); shorter training and evaluation (the test still
    runs 6 trainings: each model and its twin, the transfer check's source, in two clones)."""
    config = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    config["mnist"]["defaults"].update(iterations=30, eps_warmup=10)
    config["mnist"]["evaluation"].update(n=100, batch_size=100)
    group = {**config["mnist"]["models"][0], "sizes": [300]}
    del config["saliency"]  # its models are at 1,000 images; the test's targets are MNIST's
    config["mnist"]["models"] = [{**group, "stage": "a", "recipes": ["standard"]},
                                 {**group, "stage": "b", "recipes": ["linf-0.3"]}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _restored_clone(root: Path, config: Path, published: Path) -> Path:
    """A fresh clone: its data built, then the published models restored (in this order: restored
    models newer than the data, as Snakemake's mtime trigger needs)."""
    from conftest import copy_workflow, snakemake

    clone = copy_workflow(root, config, data="none")
    snakemake(clone, "results/mnist/data.npz")
    restore(published, clone / "results")
    return clone


@pytest.mark.slow
@pytest.mark.timeout(2700)  # 6 trainings and 11 Snakemake starts: over the suite's 900 s on a loaded machine
def test_a_published_stage_resumes_in_a_fresh_clone_and_trains_nothing(tmp_path: Path) -> None:
    """Stage a run and published with its weights (then the same clone runs on, uninterrupted: the
    reference). In a fresh clone (data built, stage a restored) stage a has nothing to do and stage b
    trains its own models only, to the uninterrupted run's weights and evaluations byte for byte.
    Published again, a third fresh clone runs the MNIST target without training or evaluating
    anything, to the uninterrupted run's tables; a changed recipe there still retrains that recipe's
    models, and a corrupt restored file stops the run naming it."""
    from conftest import copy_workflow, dry_run_jobs, snakemake

    config = _staged_config(tmp_path / "staged.yaml")
    published = tmp_path / "published"  # outside every clone
    first = copy_workflow(tmp_path / "first", config, data="none")
    snakemake(first, "stage_a", timeout=1800)
    publish(first / "results", published, stage=True)
    snakemake(first, "mnist", timeout=1800)  # the uninterrupted run

    second = _restored_clone(tmp_path / "second", config, published)
    assert dry_run_jobs(second, "stage_a") == {}
    planned = dry_run_jobs(second, "stage_b")
    assert planned.get("mnist_train") == 2 and planned.get("mnist_eval") == 1, planned
    snakemake(second, "stage_b", timeout=1800)
    trained = sorted(p.relative_to(second / "logs" / "mnist_train").parts[0]
                     for p in (second / "logs" / "mnist_train").rglob("*.log"))
    assert trained == ["linf-0.3"] * 2, trained  # stage a's models were not trained again
    models = sorted(p.relative_to(first / "results")
                    for p in (first / "results").glob("mnist/models/*/n~*/seed~*/weights.safetensors"))
    evals = sorted(p.relative_to(first / "results") for p in (first / "results").glob("mnist/eval/*/n~*/seed~*.*"))
    assert len(models) == 4 and len(evals) == 6
    for rel in models + evals:
        assert (second / "results" / rel).read_bytes() == (first / "results" / rel).read_bytes(), rel

    publish(second / "results", published, stage=True)
    third = _restored_clone(tmp_path / "third", config, published)
    run = snakemake(third, "mnist", timeout=1800)
    out = run.stdout + run.stderr
    assert "rule mnist_tables" in out and "rule mnist_train" not in out and "rule mnist_eval" not in out, out
    assert not (third / "logs" / "mnist_train").exists() and not (third / "logs" / "mnist_eval").exists()
    for rel in ["mnist/robustness.csv", "mnist/claims.csv"]:
        assert (third / "results" / rel).read_bytes() == (first / "results" / rel).read_bytes(), rel

    # the cache does not lie: a changed recipe retrains its models (Snakemake's params trigger reads the
    # restored records), the other recipe's stay; a corrupt restored file stops the run, named
    staged = yaml.safe_load((third / "config" / "config.yaml").read_text())
    staged["mnist"]["recipes"]["linf-0.3"]["alpha"] = 0.05
    (third / "config" / "config.yaml").write_text(yaml.safe_dump(staged, sort_keys=False))
    planned = dry_run_jobs(third, "mnist")
    assert planned.get("mnist_train") == 2 and planned.get("mnist_eval") == 1, planned
    weights = third / "results" / WEIGHTS.format(recipe="standard", size=300, seed=0)
    stat = weights.stat()
    weights.write_bytes(weights.read_bytes()[:1000])
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    stopped = snakemake(third, "-n", "mnist", check=False)
    assert stopped.returncode != 0 and "results/mnist/models/standard/n~300/seed~0/weights.safetensors: truncated" in (
        stopped.stdout + stopped.stderr)
