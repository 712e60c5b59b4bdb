"""The manifest of committed results: every file under ``docs/results/`` with its SHA-256.

``docs/results/MANIFEST.json`` lists every file below its folder (paths relative to it) with the
SHA-256 it had when a run published it (``files``: the training provenance, written by
:mod:`tradeoff.workflow.publish` or, once, by ``init``). Tables re-derived later from committed outcomes,
without retraining, are recorded in ``rederived``: one entry per re-derivation, with the commit it
ran at, the hash of the code that derived them (:func:`tradeoff.provenance.code_hash` of the named
modules), a note, and the new digests (``null``: the file was removed); ``files`` stays as it was.
A file's expected digest is its newest ``rederived`` one, else its ``files`` one. ``check`` (and
``tests/test_results_manifest.py``) compares every file with it: editing one number, adding or
removing a file fails. Digests are written only by these commands, never by hand.

    python -m tradeoff.workflow.manifest check [ROOT]
    python -m tradeoff.workflow.manifest rederive --code MODULE [--code MODULE ...] [--note TEXT] [ROOT]
    python -m tradeoff.workflow.manifest init [ROOT]        (only where no manifest exists yet)

``ROOT`` defaults to ``docs/results``.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tradeoff import io

NAME = "MANIFEST.json"
FORMAT = "tradeoff.results-manifest/1"
DEFAULT_ROOT = "docs/results"


class ManifestError(ValueError):
    """The manifest is missing or malformed, or a command would overwrite what it must not."""


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def listed_files(root: Path) -> dict[str, str]:
    """Every file under ``root`` but the manifest (relative POSIX path -> SHA-256)."""
    return {p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).as_posix() != NAME}


def read(root: Path) -> dict[str, Any]:
    """The manifest of ``root``, checked for its shape."""
    path = root / NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest; `python -m tradeoff.workflow.manifest init {root}` writes one")
    record = io.read_json(path)
    if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("files"), dict):
        raise ManifestError(f"{path}: not a results manifest (format {FORMAT!r} with a 'files' mapping)")
    for i, entry in enumerate(record.get("rederived", [])):
        if not all(entry.get(k) for k in ("commit", "code", "files")):
            raise ManifestError(f"{path}: rederived[{i}] lacks its commit, code hash or files")
    return record


def expected(record: dict[str, Any]) -> dict[str, str]:
    """Each file's expected digest: its newest re-derived one, else the one it was published with."""
    out = dict(record["files"])
    for entry in record.get("rederived", []):
        for name, digest in entry["files"].items():
            if digest is None:
                out.pop(name, None)
            else:
                out[name] = digest
    return out


def problems(root: str | Path = DEFAULT_ROOT) -> list[str]:
    """Every way the files under ``root`` differ from its manifest (empty: they agree)."""
    root = Path(root)
    want, have = expected(read(root)), listed_files(root)
    out = [f"{root / n}: SHA-256 {have[n][:16]}..., the manifest says {want[n][:16]}... (changed since it was "
           "recorded)" for n in sorted(set(want) & set(have)) if want[n] != have[n]]
    out += [f"{root / n}: not in the manifest" for n in sorted(set(have) - set(want))]
    out += [f"{root / n}: in the manifest but missing" for n in sorted(set(want) - set(have))]
    return out


def _write(root: Path, record: dict[str, Any]) -> None:
    io.write_json(record, root / NAME)


def init(root: str | Path = DEFAULT_ROOT) -> dict[str, Any]:
    """Write the first manifest of ``root`` from the files there (refused where one exists)."""
    root = Path(root)
    if (root / NAME).exists():
        raise ManifestError(f"{root / NAME} exists; use rederive (tables re-derived) or publish (a new run)")
    record = {"format": FORMAT, "files": listed_files(root), "rederived": []}
    _write(root, record)
    return record


def rederive(root: str | Path = DEFAULT_ROOT, *, code: Sequence[str], note: str = "",
             commit: str | None = None) -> dict[str, str | None]:
    """Record the files under ``root`` that differ from the manifest (changed, new or removed) as
    re-derived by the modules ``code`` at ``commit`` (default: the checked-out commit). Returns the
    recorded digests (empty: nothing differed, nothing written). The commit is the package's checkout
    (``-dirty`` when its tracked files differ from it: commit the re-derived tables first)."""
    from tradeoff.provenance import code_hash, git_commit

    root = Path(root)
    if not code:
        raise ManifestError("rederive: name the module(s) that derived the tables (--code tradeoff.stages....)")
    record = read(root)
    want, have = expected(record), listed_files(root)
    changed: dict[str, str | None] = {n: have.get(n) for n in sorted(set(want) | set(have)) if want.get(n) != have.get(n)}
    if not changed:
        return {}
    entry = {"commit": commit or git_commit(), "code": {m: code_hash(m) for m in code}, "note": note, "files": changed}
    record.setdefault("rederived", []).append(entry)
    _write(root, record)
    return changed


def record_published(dest: str | Path, written: Iterable[str | Path]) -> Path | None:
    """After :func:`tradeoff.workflow.publish.publish` copied a run into ``dest``: the manifest above it (if
    any) takes the new digests of the files ``written`` (relative to ``dest``) and of files under
    ``dest`` it does not list yet, as their training provenance; re-derived digests of those files
    are dropped (the new run supersedes them). Files it lists that the run did not write keep theirs."""
    dest = Path(dest).resolve()
    root = next((d for d in (dest, *dest.parents) if (d / NAME).is_file()), None)
    if root is None:
        return None
    record = read(root)
    have = listed_files(root)
    prefix = dest.relative_to(root).as_posix()
    fresh = {f"{prefix}/{Path(w).as_posix()}" if prefix != "." else Path(w).as_posix() for w in written}
    fresh |= {n for n in have if n.startswith(f"{prefix}/" if prefix != "." else "") and n not in expected(record)}
    for name in sorted(fresh):
        if name in have:
            record["files"][name] = have[name]
        for entry in record.get("rederived", []):
            entry["files"].pop(name, None)
    record["rederived"] = [e for e in record.get("rederived", []) if e["files"]]
    _write(root, record)
    return root / NAME


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("check", "init"):
        p = sub.add_parser(name)
        p.add_argument("root", nargs="?", default=DEFAULT_ROOT)
    p = sub.add_parser("rederive", help="record re-derived tables (changed, new or removed files)")
    p.add_argument("root", nargs="?", default=DEFAULT_ROOT)
    p.add_argument("--code", action="append", required=True, metavar="MODULE",
                   help="a package module that derived them (repeatable), e.g. tradeoff.stages.mnist_tables")
    p.add_argument("--note", default="")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            found = problems(args.root)
            if found:
                raise SystemExit("manifest: the committed results differ from their manifest:\n  " + "\n  ".join(found)
                                 + "\n(re-derived tables: python -m tradeoff.workflow.manifest rederive --code MODULE ...; "
                                 "a new run: python -m tradeoff.workflow.publish)")
            print(f"{args.root}: every file matches {NAME}")
        elif args.command == "init":
            record = init(args.root)
            print(f"{len(record['files'])} files -> {Path(args.root) / NAME}")
        else:
            changed = rederive(args.root, code=args.code, note=args.note)
            print(f"{len(changed)} re-derived file(s) recorded in {Path(args.root) / NAME}" if changed
                  else "nothing differs from the manifest; nothing recorded")
    except ManifestError as err:
        raise SystemExit(f"manifest: {err}") from None


if __name__ == "__main__":
    main()
