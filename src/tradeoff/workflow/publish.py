"""Copy a finished run's results into a folder that is committed (for example ``docs/results/cpu/``).

What is copied: the provenance manifest, every table and claims file, the per-model evaluations
(tables, masking checks, per-example outcomes), the training histories, the saliency tables and the
figures; not the model weights, samples or data (they are rebuilt by the run). The claims tables are
also written at the top of the folder under the names the default run's comparison reads
(``mnist_claims.csv``, ``saliency_claims.csv``; :mod:`tradeoff.stages.claims_reference`).

Before anything is copied, every table the manifest hashes is checked against its SHA-256, so a
table edited (or re-made by another run) after the manifest was written is refused by name and the
destination is left as it was.

When a results manifest lies at or above ``dest`` (``docs/results/MANIFEST.json``,
:mod:`tradeoff.workflow.manifest`), it takes the digests of the files copied (and of files under ``dest`` it
did not list yet) as their new training provenance.

Command: ``python -m tradeoff.workflow.publish RESULTS DEST`` (RESULTS: a run's ``results/`` folder).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from tradeoff.stages.claims_reference import REFERENCE_FILES
from tradeoff.stages.provenance import _sha256  # the manifest's own digest, so the two agree
from tradeoff.workflow.manifest import record_published

PATTERNS: tuple[str, ...] = (
    "provenance.json", "provenance.md",
    "theory/*.csv", "theory/*.md", "theory/metrics/*.csv",
    "mnist/*.csv", "mnist/*.md",
    "mnist/eval/*/n~*/seed~*.csv", "mnist/eval/*/n~*/seed~*.sanity.json",
    "mnist/eval/*/n~*/seed~*.outcomes.npz",
    "mnist/masking/*/n~*/seed~*.json",
    "mnist/models/*/n~*/seed~*/history.json",
    "mnist/saliency/*.csv", "mnist/saliency/*.md",
    "mnist/saliency/*/n~*/seed~*/*.csv", "mnist/saliency/linear/accuracy.csv",
    "mnist/saliency/*judge/seed~*/history.json",
    "figures/*.png",
)
# The run's claims tables -> the names the comparison of the default run reads in the folder.
ALIASES: dict[str, str] = {
    REFERENCE_FILES["MNIST claims"]: "mnist/claims.csv",
    REFERENCE_FILES["Saliency claims"]: "mnist/saliency/claims.csv",
}


class PublishError(ValueError):
    """The run cannot be published: no manifest, or a table that differs from its manifest."""


def check_manifest(results: Path) -> None:
    """Check that the run's manifest exists and every table it hashes is present and unchanged."""
    manifest = results / "provenance.json"
    if not manifest.is_file():
        raise PublishError(f"{manifest}: no provenance manifest; run the workflow to the end first")
    record = json.loads(manifest.read_text())
    for name, digest in record.get("tables", {}).items():
        # the manifest names tables as the workflow does ("results/..."), relative to its run folder
        path = results.parent / name
        if not path.is_file():
            raise PublishError(f"{name}: hashed in {manifest} but missing")
        if _sha256(str(path)) != digest:
            raise PublishError(f"{name}: differs from its SHA-256 in {manifest} (changed after the run)")


def files_to_publish(results: Path) -> list[Path]:
    """The run's files that go into the committed folder, relative to ``results``, sorted."""
    found = {p.relative_to(results) for pattern in PATTERNS for p in results.glob(pattern) if p.is_file()}
    return sorted(found)


def publish(results: str | Path, dest: str | Path) -> list[Path]:
    """Copy the run in ``results`` into ``dest`` (kept: what else ``dest`` holds). Returns the files
    written, relative to ``dest``."""
    results, dest = Path(results), Path(dest)
    check_manifest(results)
    files = files_to_publish(results)
    missing = [alias for alias, src in ALIASES.items() if not (results / src).is_file()]
    if missing:
        raise PublishError(f"{results}: no claims table for {', '.join(missing)}; the run is incomplete")
    written = []
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results / rel, dest / rel)
        written.append(rel)
    for alias, src in ALIASES.items():
        shutil.copyfile(results / src, dest / alias)
        written.append(Path(alias))
    record_published(dest, written)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a finished run's results/ folder")
    parser.add_argument("dest", help="the committed folder, e.g. docs/results/cpu")
    args = parser.parse_args(argv)
    try:
        written = publish(args.results, args.dest)
    except PublishError as err:
        raise SystemExit(f"publish: {err}") from None
    print(f"{len(written)} files -> {args.dest}")


if __name__ == "__main__":
    main()
