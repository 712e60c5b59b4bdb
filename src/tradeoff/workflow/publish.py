"""Copy a finished run's results into a folder that is committed (for example ``docs/results/cpu/``).

What is copied: the provenance manifest, every table and claims file, the per-model evaluations
(tables, masking checks, per-example outcomes), every model's weights beside its training history
(the saliency judges' too), the saliency tables and the figures; not samples or data (they are rebuilt
by the run). The claims tables are also written at the top of the folder under the names the default
run's comparison reads (``mnist_claims.csv``, ``saliency_claims.csv``;
:mod:`tradeoff.stages.claims_reference`).

Resumption (issue 30): the folder also gets ``resume.json`` (:data:`RESUME`): the SHA-256 of every
model file and evaluation it holds, Snakemake's own record of the job that made each (its params, the
code hash among them, and inputs, from ``.snakemake/metadata``), and a digest of the arrays of the data
they were trained on. ``--stage`` publishes a stage's models and evaluations alone (a run not yet
finished has no provenance manifest or claims). ``--restore`` puts them back into another clone's
``results/``, so that the next stage (or a re-attack) trains nothing there: :func:`restore`.

Before anything is copied, every table the manifest hashes is checked against its SHA-256, so a
table edited (or re-made by another run) after the manifest was written is refused by name and the
destination is left as it was.

When a results manifest lies at or above ``dest`` (``docs/results/MANIFEST.json``,
:mod:`tradeoff.workflow.manifest`), it takes the digests of the files copied (and of files under ``dest`` it
did not list yet) as their new training provenance.

Commands (RESULTS: a clone's ``results/`` folder, DEST: the published folder)::

    python -m tradeoff.workflow.publish RESULTS DEST            # a finished run
    python -m tradeoff.workflow.publish --stage RESULTS DEST    # a stage's models and evaluations
    python -m tradeoff.workflow.publish --restore DEST RESULTS  # back into a fresh clone (data built first)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tradeoff.nets.integrity import identity_against_path, weights_header
from tradeoff.stages.claims_reference import REFERENCE_FILES
from tradeoff.stages.provenance import _sha256  # the manifest's own digest, so the two agree
from tradeoff.workflow.manifest import NAME as RESULTS_MANIFEST
from tradeoff.workflow.manifest import expected, read, record_published

# Every model's files (as one training job writes them) and every evaluation's (as one evaluation
# job writes them): what resumption needs. Layer 0 is made before layer 1 (an evaluation reads the
# weights), so a restore gives layer 1 the later modification time.
MODEL_GROUPS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("mnist/models/*/n~*/seed~*/", ("weights.safetensors", "history.json"), 0),
    ("mnist/saliency/judge/seed~*/", ("weights.safetensors", "history.json"), 0),
    ("mnist/saliency/robust_judge/seed~*/", ("weights.safetensors", "history.json"), 0),
    ("mnist/eval/*/n~*/seed~*", (".csv", ".sanity.json", ".outcomes.npz"), 1),
    ("mnist/masking/*/n~*/seed~*", (".json",), 1),
)
PATTERNS: tuple[str, ...] = (
    "provenance.json", "provenance.md",
    "theory/*.csv", "theory/*.md", "theory/metrics/*.csv",
    "mnist/*.csv", "mnist/*.md",
    "mnist/eval/*/n~*/seed~*.csv", "mnist/eval/*/n~*/seed~*.sanity.json",
    "mnist/eval/*/n~*/seed~*.outcomes.npz",
    "mnist/masking/*/n~*/seed~*.json",
    "mnist/models/*/n~*/seed~*/history.json", "mnist/models/*/n~*/seed~*/weights.safetensors",
    "mnist/saliency/*.csv", "mnist/saliency/*.md",
    "mnist/saliency/*/n~*/seed~*/*.csv", "mnist/saliency/linear/accuracy.csv",
    "mnist/saliency/*judge/seed~*/history.json", "mnist/saliency/*judge/seed~*/weights.safetensors",
    "figures/*.png",
)
# The run's claims tables -> the names the comparison of the default run reads in the folder.
ALIASES: dict[str, str] = {
    REFERENCE_FILES["MNIST claims"]: "mnist/claims.csv",
    REFERENCE_FILES["Saliency claims"]: "mnist/saliency/claims.csv",
}
RESUME = "resume.json"
"""The published folder's record for resumption (:func:`resume_record`)."""
RESUME_FORMAT = "tradeoff.resume/1"
DATA = "mnist/data.npz"
"""The data every model was trained on, relative to ``results/`` (rebuilt, never published)."""


class PublishError(ValueError):
    """The run cannot be published: no manifest, or a table that differs from its manifest."""


class RestoreError(ValueError):
    """The published models cannot be restored: a file that differs from its digest, other data."""


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


def model_groups(results: Path) -> Iterator[tuple[list[Path], int]]:
    """(the files of one job, relative to ``results``; its layer) for every model and evaluation
    of which any file exists under ``results``."""
    for stem_pattern, suffixes, layer in MODEL_GROUPS:
        stems: set[str] = set()
        for suffix in suffixes:
            stems |= {str(p.relative_to(results))[: -len(suffix)] for p in results.glob(stem_pattern + suffix)}
        for stem in sorted(stems):
            yield [Path(stem + suffix) for suffix in suffixes], layer


def data_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the arrays in a ``.npz`` file (names, dtypes, shapes, bytes): the same for the same
    data rebuilt on another day (the file's own bytes hold the zip entries' times)."""
    import numpy as np

    h = hashlib.sha256()
    with np.load(path, allow_pickle=False) as npz:
        for name in sorted(npz.files):
            arr = np.ascontiguousarray(npz[name])
            h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
            h.update(arr.tobytes())
    return h.hexdigest()


def _persistence(workdir: Path) -> Any:
    """Snakemake's own store of job records of the clone ``workdir`` (``.snakemake/``, the file
    backend Snakemake uses by default), read and written through Snakemake's code so that the records
    are exactly those it reads when it decides what to re-run."""
    from snakemake.persistence.file import FilePersistence

    return FilePersistence(nolock=True, path=workdir / ".snakemake")


def _key(rel: Path) -> str:
    """The name Snakemake records a file under: its path in the rules (``results/...``)."""
    return f"results/{rel.as_posix()}"


def resume_record(results: Path, files: Iterable[Path]) -> dict[str, Any]:
    """The record :func:`restore` needs for ``files`` (model and evaluation files, relative to
    ``results``): each file's SHA-256 and layer and Snakemake's record of the job that made it, and the
    digest of the data. Refused, naming each file: a weights file that is corrupt or another model than
    its path says, a file that Snakemake has no record of (nothing would tell a later run which
    params made it) or marks incomplete, a job's files published in part."""
    if results.name != "results":
        raise PublishError(f"{results}: publish a clone's results/ folder (Snakemake's records name files results/...)")
    data = results / DATA
    if not data.is_file():
        raise PublishError(f"{data}: missing; the data the models were trained on is needed to publish them")
    store = _persistence(results.resolve().parent)
    wanted = set(files)
    problems: list[str] = []
    entries: dict[str, Any] = {}
    for group, layer in model_groups(results):
        if not wanted & set(group):
            continue
        missing = [rel for rel in group if not (results / rel).is_file()]
        if missing:
            problems += [f"results/{rel}: missing, while the job's other files are here" for rel in missing]
            continue
        incomplete = store._filter_incomplete_keys([_key(rel) for rel in group])  # noqa: SLF001
        for rel in group:
            path = results / rel
            if rel.name == "weights.safetensors":
                problem, metadata = weights_header(path)
                problem = problem or identity_against_path(_key(rel), metadata)
                if problem:
                    problems.append(f"results/{rel}: {problem}")
                    continue
            record = store._read_record(_key(rel))  # noqa: SLF001
            if record is None or _key(rel) in incomplete:
                problems.append(f"results/{rel}: {'no record' if record is None else 'marked incomplete'} in "
                                f"{store.path}/metadata (Snakemake's record of the job that made it: without it "
                                "a later run could not tell which params made it); publish from the clone that "
                                "ran it")
                continue
            entries[rel.as_posix()] = {"sha256": _sha256(str(path)), "layer": layer,
                                       "snakemake": json.loads(record.model_dump_json())}
    if problems:
        raise PublishError("cannot publish for resumption:\n  " + "\n  ".join(problems))
    from snakemake import __version__ as snakemake_version

    return {"format": RESUME_FORMAT, "snakemake": snakemake_version,
            "data": {"path": f"results/{DATA}", "arrays_sha256": data_digest(data)}, "files": entries}


def publish(results: str | Path, dest: str | Path, *, stage: bool = False) -> list[Path]:
    """Copy the run in ``results`` into ``dest`` (kept: what else ``dest`` holds). Returns the files
    written, relative to ``dest``. ``stage``: only the models and evaluations of a run not yet
    finished (a stage target's outputs), without its provenance manifest and claims."""
    results, dest = Path(results), Path(dest)
    if stage:
        files = sorted(rel for group, _ in model_groups(results) for rel in group if (results / rel).is_file())
        if not files:
            raise PublishError(f"{results}: no trained model or evaluation to publish")
        aliases: dict[str, str] = {}
    else:
        check_manifest(results)
        files = files_to_publish(results)
        missing = [alias for alias, src in ALIASES.items() if not (results / src).is_file()]
        if missing:
            raise PublishError(f"{results}: no claims table for {', '.join(missing)}; the run is incomplete")
        aliases = ALIASES
    # checked and made before anything is copied: a refusal leaves dest as it was
    modelled = {rel for group, _ in model_groups(results) for rel in group}
    record = resume_record(results, [f for f in files if f in modelled]) if modelled & set(files) else None
    resume_path = dest / RESUME
    if record is not None and resume_path.is_file():
        old = json.loads(resume_path.read_text())
        if old.get("data", {}).get("arrays_sha256") != record["data"]["arrays_sha256"]:
            raise PublishError(f"{resume_path}: records models trained on other data than {results / DATA}; "
                               "publish into another folder")
        record["files"] = {**old.get("files", {}), **record["files"]}
    written = []
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results / rel, dest / rel)
        written.append(rel)
    for alias, src in aliases.items():
        shutil.copyfile(results / src, dest / alias)
        written.append(Path(alias))
    if record is not None:
        resume_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        written.append(Path(RESUME))
    record_published(dest, written)
    return written


def _manifest_digests(published: Path) -> tuple[Path, dict[str, str]] | None:
    """(the results manifest at or above ``published``, its expected digests of the files under
    ``published``, relative to it), or None where there is no such manifest."""
    folder = published.resolve()
    root = next((d for d in (folder, *folder.parents) if (d / RESULTS_MANIFEST).is_file()), None)
    if root is None:
        return None
    prefix = folder.relative_to(root).as_posix()
    lead = "" if prefix == "." else f"{prefix}/"
    want = expected(read(root))
    return root / RESULTS_MANIFEST, {n[len(lead):]: d for n, d in want.items() if n.startswith(lead)}


def restore(published: str | Path, results: str | Path, *, settle: float = 1.0) -> list[Path]:
    """Put the models and evaluations published in ``published`` (with their ``resume.json``) back
    into the clone whose results folder is ``results``, so that Snakemake there re-runs none of them
    unless it would have in the clone that made them. Returns the files restored, relative to
    ``results``.

    Checked first, all or nothing (every problem named, nothing written): each file's SHA-256
    against ``resume.json`` and, where a results manifest lies above ``published``
    (``docs/results/MANIFEST.json``), against that too; the clone's data
    (``results/mnist/data.npz``, which must be built first) against the arrays the models were
    trained on; a file already in ``results`` that differs from the published one.

    How Snakemake 9 then sees them: each file gets Snakemake's own record of the job that made it
    back (``.snakemake/metadata``, written through Snakemake's code), so its params trigger (the
    recipe, the code hash in ``params.code``), input trigger and software-environment trigger compare
    against what really made the file, as in the original clone (a file without a record is compared
    with nothing: Snakemake never re-runs it for a changed recipe). Its mtime trigger re-runs a job
    whose input is newer than its output: the data are rebuilt in a fresh clone, so the restored model
    files get a modification time after the data's (``settle`` seconds before the evaluations', which
    read them), and only once the data's arrays are shown to be those the models were trained on."""
    published, results = Path(published), Path(results)
    record = _read_resume(published)
    if results.name != "results":
        raise RestoreError(f"{results}: restore into a clone's results/ folder (the rules name results/...)")
    problems = _restore_problems(published, results, record)
    if problems:
        raise RestoreError("nothing restored:\n  " + "\n  ".join(problems))
    # newer than the data, the older layer first; never in the future
    floor = os.stat(results / DATA).st_mtime
    while time.time() - settle <= floor:
        time.sleep(0.05)
    now = time.time()
    stamps = {0: now - settle, 1: now}
    store = _persistence(results.resolve().parent)
    from snakemake.persistence import MetadataRecord

    restored = []
    for name, entry in sorted(record["files"].items()):
        target = results / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.restore.tmp")
        shutil.copyfile(published / name, tmp)
        os.replace(tmp, target)
        os.utime(target, (stamps[int(entry["layer"])],) * 2)
        store._write_record(_key(Path(name)), MetadataRecord.model_validate(entry["snakemake"]))  # noqa: SLF001
        store._unmark_incomplete(_key(Path(name)))  # noqa: SLF001
        restored.append(Path(name))
    return restored


def _read_resume(published: Path) -> dict[str, Any]:
    """The resume record of a published folder, checked for its shape."""
    path = published / RESUME
    if not path.is_file():
        raise RestoreError(f"{path}: missing; this folder was published without its models "
                           "(python -m tradeoff.workflow.publish [--stage] RESULTS DEST writes it)")
    record = json.loads(path.read_text())
    if not isinstance(record, dict) or record.get("format") != RESUME_FORMAT or not isinstance(record.get("files"), dict):
        raise RestoreError(f"{path}: not a resume record (format {RESUME_FORMAT!r} with a 'files' mapping)")
    return record


def _restore_problems(published: Path, results: Path, record: dict[str, Any]) -> list[str]:
    """Every reason not to restore ``record``'s files from ``published`` into ``results``
    (:func:`restore`), each naming its file; empty: none."""
    resume_path = published / RESUME
    problems: list[str] = []
    manifest = _manifest_digests(published)
    names = sorted(record["files"])
    for name in [RESUME, *names] if manifest else names:
        path = published / name
        if not path.is_file():
            problems.append(f"{path}: missing (listed in {resume_path})")
            continue
        digest = _sha256(str(path))
        if name != RESUME and digest != record["files"][name]["sha256"]:
            problems.append(f"{path}: differs from its SHA-256 in {resume_path}")
        if manifest is not None and name in manifest[1] and digest != manifest[1][name]:
            problems.append(f"{path}: differs from its SHA-256 in {manifest[0]}")
        there = results / name
        if name != RESUME and there.exists() and _sha256(str(there)) != digest:
            problems.append(f"{there}: exists and differs from the published file; restore into a fresh "
                            "clone, or remove it")
    data = results / DATA
    if not data.is_file():
        problems.append(f"{data}: missing; build the data first (snakemake --cores 1 results/{DATA}), so "
                        "that the restored models are newer than it")
    elif data_digest(data) != record.get("data", {}).get("arrays_sha256"):
        problems.append(f"{data}: other data than the models were trained on (its arrays hash to another "
                        f"SHA-256 than {resume_path} records)")
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stage", action="store_true",
                      help="publish a stage's models and evaluations alone (the run is not finished)")
    mode.add_argument("--restore", action="store_true",
                      help="the other way: put a published folder's models back into a clone (FROM: the "
                           "published folder, TO: the clone's results/, its data built first)")
    parser.add_argument("source", metavar="FROM", help="a run's results/ folder (with --restore: the published folder)")
    parser.add_argument("dest", metavar="TO", help="the committed folder, e.g. docs/results/cpu (with --restore: results)")
    args = parser.parse_args(argv)
    if args.restore:
        try:
            restored = restore(args.source, args.dest)
        except RestoreError as err:
            raise SystemExit(f"publish --restore: {err}") from None
        print(f"{len(restored)} files restored -> {args.dest}")
        return
    try:
        written = publish(args.source, args.dest, stage=args.stage)
    except PublishError as err:
        raise SystemExit(f"publish: {err}") from None
    print(f"{len(written)} files -> {args.dest}")


if __name__ == "__main__":
    main()
