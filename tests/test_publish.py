"""Publishing a finished run into a committed folder: what is copied, and what is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tradeoff.workflow.publish import PublishError, main, publish


def _run(tmp_path: Path) -> Path:
    """A small finished run: tables hashed in its manifest, a model (its weights, history and
    evaluation, each with Snakemake's record of the job that made it), its data, figures."""
    results = tmp_path / "run" / "results"
    files = {
        "mnist/claims.csv": "claim,verdict\nx,holds\n",
        "mnist/robustness.csv": "recipe,acc\nstandard,0.99\n",
        "mnist/saliency/claims.csv": "claim,verdict\ny,inconclusive\n",
        "mnist/eval/linf-0.3/n~1000/seed~0.csv": "a\n1\n",
        "mnist/eval/linf-0.3/n~1000/seed~0.sanity.json": "{}",
        "mnist/eval/linf-0.3/n~1000/seed~0.outcomes.npz": "binary",
        "mnist/models/linf-0.3/n~1000/seed~0/history.json": "{}",
        "mnist/models/linf-0.3/n~1000/seed~0/weights.safetensors": "binary",
        "theory/claims.csv": "claim\nz\n",
        "theory/samples/s.npz": "binary",
        "figures/mnist_fig1.png": "png",
    }
    for name, text in files.items():
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text(text)
    tables = {f"results/{n}": hashlib.sha256(t.encode()).hexdigest() for n, t in files.items()
              if n.endswith(".csv")}
    (results / "provenance.json").write_text(json.dumps({"tables": tables, "config_hash": "abc"}))
    _model_files(results)
    (results / "provenance.md").write_text("- config hash: `abc`\n")
    return results


def _model_files(results: Path) -> None:
    """The run's model as the workflow writes it: safetensors weights naming the model, the data it was
    trained on, and Snakemake's record of each model and evaluation file (written by Snakemake's code)."""
    import numpy as np
    import torch
    from snakemake.persistence import MetadataRecord
    from snakemake.persistence.file import FilePersistence

    from tradeoff.nets.checkpoints import save_weights

    save_weights(torch.nn.Linear(2, 2), results / "mnist/models/linf-0.3/n~1000/seed~0/weights.safetensors",
                 {"architecture": "x", "recipe": "linf-0.3", "size": "1000", "seed": "0"})
    np.savez_compressed(results / "mnist" / "data.npz", x=np.zeros(3))
    store = FilePersistence(nolock=True, path=results.parent / ".snakemake")
    for path in [*results.glob("mnist/models/*/*/*/*"), *results.glob("mnist/eval/*/*/*")]:
        store._write_record(f"results/{path.relative_to(results).as_posix()}",  # noqa: SLF001
                            MetadataRecord(rule="x", params=["1"], record_format_version=6))


def test_publish_copies_tables_figures_histories_and_weights(tmp_path: Path) -> None:
    results, dest = _run(tmp_path), tmp_path / "docs" / "cpu"
    (dest / "headline").mkdir(parents=True)
    (dest / "headline" / "kept.json").write_text("{}")
    written = {str(p) for p in publish(results, dest)}
    assert {"provenance.json", "provenance.md", "mnist/claims.csv", "mnist/robustness.csv",
            "mnist/eval/linf-0.3/n~1000/seed~0.csv", "mnist/eval/linf-0.3/n~1000/seed~0.sanity.json",
            "mnist/models/linf-0.3/n~1000/seed~0/history.json", "theory/claims.csv",
            "figures/mnist_fig1.png", "mnist_claims.csv", "saliency_claims.csv"} <= written
    assert "mnist/models/linf-0.3/n~1000/seed~0/weights.safetensors" in written  # issue 30: resumable
    assert "resume.json" in written and not any("samples/" in w or "data.npz" in w for w in written)
    assert (dest / "mnist_claims.csv").read_text() == "claim,verdict\nx,holds\n"
    assert (dest / "saliency_claims.csv").read_text() == "claim,verdict\ny,inconclusive\n"
    assert (dest / "headline" / "kept.json").is_file()  # what the folder held stays


def test_a_table_changed_after_the_run_is_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    results, dest = _run(tmp_path), tmp_path / "dest"
    (results / "mnist" / "robustness.csv").write_text("recipe,acc\nstandard,1.00\n")
    with pytest.raises(PublishError, match=r"results/mnist/robustness.csv: differs"):
        publish(results, dest)
    assert not dest.exists()


def test_a_run_without_its_manifest_or_claims_is_refused(tmp_path: Path) -> None:
    results = _run(tmp_path)
    (results / "mnist" / "saliency" / "claims.csv").unlink()
    manifest = json.loads((results / "provenance.json").read_text())
    del manifest["tables"]["results/mnist/saliency/claims.csv"]
    (results / "provenance.json").write_text(json.dumps(manifest))
    with pytest.raises(PublishError, match="saliency_claims.csv"):
        publish(results, tmp_path / "dest")
    (results / "provenance.json").unlink()
    with pytest.raises(SystemExit, match="no provenance manifest"):
        main([str(results), str(tmp_path / "dest")])
    assert not (tmp_path / "dest").exists()


def test_publishing_under_a_results_manifest_records_the_new_digests(tmp_path: Path) -> None:
    """Issue 27: a new run published into docs/results/<name> is its new training provenance; what the
    folder held before keeps its recorded digest (a hand edit there is still caught)."""
    from tradeoff.workflow.manifest import expected, init, problems, read

    root = tmp_path / "docs" / "results"
    (root / "cpu" / "headline").mkdir(parents=True)
    (root / "cpu" / "headline" / "kept.json").write_text("{}")
    (root / "cpu" / "mnist").mkdir()
    (root / "cpu" / "mnist" / "claims.csv").write_text("claim,verdict\nold,holds\n")
    init(root)
    publish(_run(tmp_path), root / "cpu")
    assert problems(root) == []
    record = read(root)
    assert record["files"]["cpu/mnist/claims.csv"] == hashlib.sha256(b"claim,verdict\nx,holds\n").hexdigest()
    assert "cpu/mnist_claims.csv" in expected(record) and "cpu/provenance.json" in expected(record)
    (root / "cpu" / "headline" / "kept.json").write_text('{"edited": 1}')
    assert [p for p in problems(root) if "kept.json" in p]
