"""Cheap structural checks of the workflow's model files, without torch (the workflow runs them while
it is parsed, before every run)."""

from __future__ import annotations

import functools
import glob
import json
import os
import re
import shlex
import struct
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeoff.nets.identity import (
    JUDGE_PATH,
    MODEL_PATH,
    identity_problem,
    path_identity,
    recipe_hash,
)

MAX_HEADER = 100_000_000
"""Largest safetensors header accepted (safetensors' own limit, as in :mod:`tradeoff.nets.checkpoints`)."""


def weights_header(path: str | os.PathLike[str]) -> tuple[str | None, dict[str, str]]:
    """(what is structurally wrong with a safetensors file, or None; its string metadata), from its
    header and size alone: no tensor data is read, so this is cheap enough to run over every model
    before each run. A file whose tensor bytes are altered in place passes here and fails the digest
    on loading."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"truncated: {size} bytes, not a safetensors file", {}
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER or 8 + n > size:
                return f"truncated or not a safetensors file (header of {n} bytes, file of {size})", {}
            header = json.loads(fh.read(n).decode("utf-8"))
        end = max((int(info["data_offsets"][1]) for name, info in header.items() if name != "__metadata__"),
                  default=0)
        meta = header.get("__metadata__") or {}
        metadata = {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}
    except OSError as err:
        return f"cannot read file ({err})", {}
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        return f"corrupt safetensors header ({err!r})", {}
    if 8 + n + end != size:
        return f"truncated or padded: data should end at byte {8 + n + end}, file has {size}", metadata
    return None, metadata


def weights_file_problem(path: str | os.PathLike[str]) -> str | None:
    """What is structurally wrong with a safetensors file (:func:`weights_header`); None if nothing."""
    return weights_header(path)[0]


def built_from(path: str | os.PathLike[str]) -> list[str]:
    """The results under the same results folder that were built from the model file ``path`` and
    still exist: a trained model's evaluation outputs and saliency tables; for a saliency judge, the
    saliency tables of the studied models of its seed."""
    text = os.fspath(path).replace(os.sep, "/")
    found = MODEL_PATH.search(text)
    root = text[: found.start() + (text[found.start()] == "/")] if found else ""
    if found:
        stem = f"{root}eval/{found['recipe']}/n~{found['size']}/seed~{found['seed']}"
        paths = [f"{stem}{suffix}" for suffix in (".csv", ".sanity.json", ".outcomes.npz")]
        paths += sorted(glob.glob(glob.escape(f"{root}saliency/{found['recipe']}/n~{found['size']}/"
                                              f"seed~{found['seed']}") + "/*.csv"))
        return [p for p in paths if os.path.exists(p)]
    judge = JUDGE_PATH.search(text)
    if judge:
        root = text[: judge.start() + (text[judge.start()] == "/")]
        return sorted(glob.glob(glob.escape(f"{root}saliency") + f"/*/n~*/seed~{judge['seed']}/panel.csv"))
    return []


def eval_record(path: str | os.PathLike[str]) -> str | None:
    """The evaluation record (sanity JSON) of the trained model whose weights are ``path``, if any."""
    text = os.fspath(path).replace(os.sep, "/")
    found = MODEL_PATH.search(text)
    if not found:
        return None
    root = text[: found.start() + (text[found.start()] == "/")]
    return f"{root}eval/{found['recipe']}/n~{found['size']}/seed~{found['seed']}.sanity.json"


def identity_against_path(path: str, metadata: dict[str, str]) -> str | None:
    """Where a model file's metadata disagrees with what its path says it is (another model's file
    swapped or copied in), naming both; None if it agrees or the path is of no known kind."""
    claimed = path_identity(path)
    if claimed is None:
        return None
    problem = identity_problem(metadata, claimed)
    return None if problem is None else f"its path asks for one model, the file is another: {problem}"


def stale_evaluation(path: str, metadata: dict[str, str]) -> tuple[str, str] | None:
    """(the evaluation table, the problem) when the evaluation of the model ``path`` is not older than
    it (Snakemake keeps it) but records other weights than the file now there; None otherwise."""
    record = eval_record(path)
    if record is None or not os.path.exists(record):
        return None
    try:
        if os.path.getmtime(record) < os.path.getmtime(path):
            return None  # older than the weights: Snakemake re-runs it anyway
        recorded = (json.loads(Path(record).read_text()).get("weights") or {}).get("weights_digest")
    except (OSError, ValueError, AttributeError):
        return None
    digest = metadata.get("tradeoff.digest")
    if recorded is None or digest is None or recorded == digest:
        return None
    table = record[: -len(".sanity.json")] + ".csv"
    return table, (f"made from other weights than the file now at {path} (tensor digest {recorded[:16]} in "
                   f"{record}, {digest[:16]} in the file)")


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


def _training_rule(path: str) -> str:
    """The rule that trains the model file ``path``."""
    if "/saliency/robust_judge/" in f"/{path}":
        return "saliency_robust_judge"
    return "saliency_judge" if "/saliency/" in f"/{path}" else "mnist_train"


def model_files(root: str | os.PathLike[str]) -> list[str]:
    """Every model file under ``root`` that exists or once did: each ``weights.safetensors``, the one
    beside each ``history.json`` (the training rules write both) and that of each evaluated model."""
    base = Path(root)
    found = {str(p) for p in base.glob("**/weights.safetensors")}
    found |= {str(p.with_name("weights.safetensors")) for p in base.glob("**/history.json")}
    # a model whose evaluation remains (a forced retrain interrupted: Snakemake removes both its outputs)
    for record in base.glob("eval/*/n~*/seed~*.sanity.json"):
        recipe, size = record.parent.parent.name, record.parent.name
        seed = record.name[: -len(".sanity.json")]
        found.add(str(base / "models" / recipe / size / seed / "weights.safetensors"))
    return sorted(found)


def missing_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the missing model file ``path`` matters: its ``history.json`` (written with it) or results
    built from it remain; None for a model never built (or removed with all that was made from it)."""
    if os.path.exists(os.path.join(os.path.dirname(path), "history.json")):
        return ("missing, though the history.json written with it is here: it was removed after its run (a job "
                "that found it corrupt removes it)")
    remaining = built_from(path)
    if remaining:
        return ("missing, while results built from it remain (a job training it was interrupted, or it was "
                "deleted): " + ", ".join(os.path.normpath(r) for r in remaining))
    return None


@functools.cache
def _snakemake_parser() -> Any:
    from snakemake.cli import get_argument_parser

    return get_argument_parser()


def run_targets(argv: Sequence[str]) -> list[str] | None:
    """The targets on Snakemake's command line ``argv`` as Snakemake's own parser reads them (empty:
    the default target); None where they cannot be read. Built only when needed: the parser takes
    a second."""
    try:
        args, _ = _snakemake_parser().parse_known_args(list(argv[1:]))
        return [str(t) for t in args.targets]
    except (SystemExit, Exception):  # noqa: BLE001  (not Snakemake's command line: rebuild nothing unasked)
        return None


def asked_for(targets: Sequence[str] | None, default: str | None,
              rule_inputs: Callable[[str], Sequence[str] | None]) -> set[str]:
    """The files that the run's target rules list as their inputs (normalised): Snakemake builds such
    a file when it is missing, and re-runs what was made from it. ``targets`` as :func:`run_targets`
    gives them (None: none known), ``default`` the default target rule, ``rule_inputs`` a rule's
    input files where the name is a rule that runs nothing (``rule all``, ``mnist``, ``stage_*``), else
    None."""
    if targets is None:
        return set()
    asked: set[str] = set()
    for name in list(targets) or ([default] if default else []):
        asked |= {os.path.normpath(str(f)) for f in rule_inputs(name) or ()}
    return asked


def rebuilt_models(paths: Sequence[str | os.PathLike[str]], argv: Sequence[str],
                   asked: Callable[[], set[str]]) -> list[tuple[str, str]]:
    """(path, why) of each missing model file among ``paths`` whose history or results remain and
    that this run rebuilds by itself: a file its target rules list (``asked``, called only when
    there is such a file). :func:`corrupt_weights_message` leaves these out."""
    everything, forced = _forced(argv)
    if everything or MAINTENANCE & set(argv):
        return []
    missing = []
    for p in paths:
        rel = os.path.normpath(p)
        if not os.path.exists(p) and rel not in forced and _training_rule(rel) not in forced:
            why = missing_problem(p)
            if why is not None:
                missing.append((rel, why))
    if not missing:
        return []
    listed = asked()
    return [(p, why) for p, why in missing if p in listed]


def corrupt_weights_message(paths: Sequence[str | os.PathLike[str]], argv: Sequence[str],
                            rebuilt: Collection[str] = ()) -> str | None:
    """If any of ``paths`` (model files, relative to the working directory) is structurally corrupt,
    is another model than its path says (its metadata names another recipe, size or seed: a file
    swapped or copied in), or is missing while its ``history.json`` or results built from it remain,
    or if a model's evaluation (not older than it) records other weights than the file now there; and
    this command line does not already rebuild it (it forces it, or, for a missing file, its target
    rules list it: ``rebuilt``, see :func:`rebuilt_models`): a message naming each such file, its problem, and
    the exact command that rebuilds it (this one, with ``--forcerun`` naming the files); None
    otherwise. ``argv`` is Snakemake's command line.

    Snakemake alone keeps a corrupt or foreign file that is not older than its inputs, keeps an
    evaluation of other weights whose time stamps were kept, and does not rebuild a missing
    intermediate file while what was made from it is up to date: each way the tables keep rows of a
    model that no longer exists intact ("Nothing to be done")."""
    everything, forced = _forced(argv)
    if everything or {"mnist_train", "saliency_judge"} <= forced or MAINTENANCE & set(argv):
        return None
    bad = []
    for p in paths:
        rel = os.path.normpath(p)
        if rel in forced or _training_rule(rel) in forced:
            continue
        if not os.path.exists(p):
            why = missing_problem(p)
            if why is not None and rel not in rebuilt:
                bad.append((rel, why))
            continue
        problem, metadata = weights_header(p)
        problem = problem or identity_against_path(rel, metadata)
        if problem is not None:
            bad.append((rel, problem))
            continue
        stale = stale_evaluation(rel, metadata)
        if stale is not None and stale[0] not in forced and "mnist_eval" not in forced:
            bad.append(stale)
    if not bad:
        return None
    lines = [f"{p}: {problem}" for p, problem in bad]
    command = shlex.join(["snakemake", *argv[1:], "--forcerun", *(p for p, _ in bad)])
    return ("model file(s) that are not what their results need; Snakemake would keep them (they are not older "
            "than their inputs, and a missing one is not rebuilt while what was made from it is up to date):\n  "
            + "\n  ".join(lines)
            + "\nThis command retrains (or re-evaluates) exactly those models and re-runs what was made from them:\n  "
            + command)


EVAL_PATH = re.compile(r"(?:^|/)eval/(?P<recipe>[^/]+)/n~(?P<size>[0-9]+)/seed~(?P<seed>[0-9]+)\.sanity\.json$")
"""An evaluation's record (``results/mnist/eval/<recipe>/n~<size>/seed~<seed>.sanity.json``)."""


def eval_record_problem(path: str, record: Mapping[str, Any], recipes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Where an evaluation's record (its sanity JSON) is not about the model its path and the config
    name: another recipe, size or seed than its path, or weights of a recipe whose parameters hash
    differently from the config's ``recipes`` (name -> params). None if it agrees. Records written
    before evaluations recorded the recipe hash are checked for recipe, size and seed only."""
    found = EVAL_PATH.search(path.replace("\\", "/"))
    wrong = []
    if found:
        for key in ("recipe", "size", "seed"):
            want = found[key] if key == "recipe" else int(found[key])
            if record.get(key) != want:
                wrong.append(f"{key}: the record holds {record.get(key)!r}, its path says {want!r}")
    name = str(record.get("recipe"))
    weights = record.get("weights")
    recorded = weights.get("recipe_hash") if isinstance(weights, Mapping) else None
    if recorded is not None and name in recipes and recorded != recipe_hash(recipes[name]):
        wrong.append(f"recipe_hash: the record holds {recorded!r} (weights of other recipe parameters), the "
                     f"config's recipe {name!r} hashes to {recipe_hash(recipes[name])!r}")
    return f"{path}: " + "; ".join(wrong) if wrong else None
