"""Cheap structural checks of the workflow's model files, without torch (the workflow runs them while
it is parsed, before every run)."""

from __future__ import annotations

import json
import os
import shlex
import struct
from collections.abc import Sequence
from pathlib import Path

MAX_HEADER = 100_000_000
"""Largest safetensors header accepted (safetensors' own limit, as in :mod:`tradeoff.nets.checkpoints`)."""


def weights_file_problem(path: str | os.PathLike[str]) -> str | None:
    """What is structurally wrong with a safetensors file, from its header and size alone (no tensor
    data is read, so this is cheap enough to run over every model before each run); None if nothing.
    A file whose tensor bytes are altered in place passes here and fails the digest on loading."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"truncated: {size} bytes, not a safetensors file"
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER or 8 + n > size:
                return f"truncated or not a safetensors file (header of {n} bytes, file of {size})"
            header = json.loads(fh.read(n).decode("utf-8"))
        end = max((int(info["data_offsets"][1]) for name, info in header.items() if name != "__metadata__"),
                  default=0)
    except OSError as err:
        return f"cannot read file ({err})"
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        return f"corrupt safetensors header ({err!r})"
    if 8 + n + end != size:
        return f"truncated or padded: data should end at byte {8 + n + end}, file has {size}"
    return None


MAINTENANCE = {"--unlock", "--cleanup-metadata", "--cm", "--delete-all-output", "--delete-temp-output", "--lint",
               "--list-rules", "--list", "-l", "--summary", "-S", "--detailed-summary", "-D", "--touch", "-t"}
"""Command-line flags that run no job (or only touch files): the model check stays out of their way."""


def _forced(argv: Sequence[str]) -> tuple[bool, set[str]]:
    """Whether ``--forceall`` is given, and what ``--forcerun``/``-R`` name (files or rules)."""
    forced: set[str] = set()
    everything = False
    i = 0
    while i < len(argv):
        name, eq, inline = argv[i].partition("=")
        if name in ("--forceall", "-F"):
            everything = True
        if name in ("--forcerun", "-R"):
            if eq:
                forced.add(inline)
            else:
                while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    i += 1
                    forced.add(argv[i])
        i += 1
    return everything, {os.path.normpath(f) for f in forced}


def model_files(root: str | os.PathLike[str]) -> list[str]:
    """Every model file under ``root`` that exists or once did: each ``weights.safetensors``, and the
    one beside each ``history.json`` (the training rules write both)."""
    base = Path(root)
    found = {str(p) for p in base.glob("**/weights.safetensors")}
    found |= {str(p.with_name("weights.safetensors")) for p in base.glob("**/history.json")}
    return sorted(found)


def corrupt_weights_message(paths: Sequence[str | os.PathLike[str]], argv: Sequence[str]) -> str | None:
    """If any of ``paths`` (model files, relative to the working directory) is structurally corrupt, or
    missing beside its ``history.json``, and this command line does not already rebuild it: a message
    naming each such file, its problem, and the exact command that rebuilds it (this one, with
    ``--forcerun`` naming the files); None otherwise. ``argv`` is Snakemake's command line.

    Snakemake alone keeps a corrupt file that is not older than its inputs, and does not rebuild a
    missing intermediate file while what was made from it is up to date: either way the tables keep
    rows of a model that no longer exists intact ("Nothing to be done")."""
    everything, forced = _forced(argv)
    if everything or {"mnist_train", "saliency_judge"} <= forced or MAINTENANCE & set(argv):
        return None
    bad = []
    for p in paths:
        rel = os.path.normpath(p)
        rule = "saliency_judge" if "/saliency/judge/" in f"/{rel}" else "mnist_train"
        if rel in forced or rule in forced:
            continue
        if not os.path.exists(p):
            if os.path.exists(os.path.join(os.path.dirname(p), "history.json")):
                bad.append((rel, "missing, though the history.json written with it is here: it was removed after "
                                 "its run (a job that found it corrupt removes it)"))
            continue
        problem = weights_file_problem(p)
        if problem is not None:
            bad.append((rel, problem))
    if not bad:
        return None
    lines = [f"{p}: {problem}" for p, problem in bad]
    command = shlex.join(["snakemake", *argv[1:], "--forcerun", *(p for p, _ in bad)])
    return ("corrupt model file(s); Snakemake would keep them (they are not older than their inputs, and "
            "a missing one is not rebuilt while what was made from it is up to date):\n  " + "\n  ".join(lines)
            + "\nThis command retrains exactly those models and re-runs what was made from them:\n  "
            + command)
