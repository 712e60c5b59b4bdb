"""Stage: the final, once-only test-set evaluation of a headline model, logged.

A headline model's recipe is chosen on the validation split; this stage then attacks the chosen
model on the test set with the protocol of ``docs/CLAIMS.md`` (by default: clean accuracy on all
10,000 test images, PGD-50 x 10 on 2,000, AutoAttack on 1,000; each subset a seeded,
class-balanced prefix of the same ordering, so the smaller sets are nested in the larger) and
appends one line per finished evaluation (AutoAttack: per finished component) to a JSON-lines
*test-set log*, so that every look at the test
set is on record (``docs/results/cpu/test_set_log.jsonl``, listed in ``docs/CLAIMS.md``).

    python -m tradeoff.stages.headline WEIGHTS OUT.json --log LOG.jsonl [--data DATA.npz] [--protocol linf|l2]
        [--only ATTACK ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tradeoff import io
from tradeoff.adversarial.robust_eval import autoattack_cascade, evaluate_grid_outcomes
from tradeoff.nets.checkpoints import load_weights_and_metadata
from tradeoff.provenance import code_hash, git_commit, package_versions
from tradeoff.runtime import cpu_capabilities
from tradeoff.stages.mnist_eval import eval_subset_indices
from tradeoff.stages.saliency_tables import wilson_interval

log = logging.getLogger(__name__)

#: (attack spec, test images): the protocol table's headline row for an l_inf 0.3 model.
LINF_PROTOCOL: tuple[tuple[dict[str, Any], int], ...] = (
    ({"attack": "clean"}, 10000),
    ({"attack": "pgd", "norm": "linf", "eps": 0.3, "steps": 50, "restarts": 10, "alpha": 0.01}, 2000),
    ({"attack": "autoattack", "norm": "linf", "eps": 0.3, "version": "standard"}, 1000),
)

#: the same rows at l2 1.5 (PGD step 2.5 eps / 50): the l2 headline model's protocol.
L2_PROTOCOL: tuple[tuple[dict[str, Any], int], ...] = (
    ({"attack": "clean"}, 10000),
    ({"attack": "pgd", "norm": "l2", "eps": 1.5, "steps": 50, "restarts": 10, "alpha": 0.075}, 2000),
    ({"attack": "autoattack", "norm": "l2", "eps": 1.5, "version": "standard"}, 1000),
)
#: protocol name (the command's ``--protocol``) -> rows
PROTOCOLS: dict[str, tuple[tuple[dict[str, Any], int], ...]] = {"linf": LINF_PROTOCOL, "l2": L2_PROTOCOL}


def headline_code_hashes() -> dict[str, str]:
    """Hashes of the code behind a headline number (:func:`tradeoff.provenance.code_hash`): the
    training loop and its objectives, attacks and models; this stage and the evaluation it calls.
    A committed result whose hashes differ from the current ones was made by other code."""
    return {"training": code_hash("tradeoff.adversarial.training"),
            "evaluation": code_hash("tradeoff.stages.headline")}


def _row(spec: dict[str, Any], k: int, n: int, seconds: float) -> dict[str, Any]:
    lo, hi = wilson_interval(np.array([k]), np.array([n]))
    return {"attack": spec["attack"], "spec": spec, "n": n, "accuracy": k / n,
            "wilson95": [float(lo[0]), float(hi[0])], "seconds": round(seconds, 1)}


class SecondLookError(RuntimeError):
    """A test look at weights the test-set log already holds, without a reason."""


def earlier_looks(test_log: str | Path, digest: str) -> list[str]:
    """The times (``when``) of the test-set log's lines about the weights with SHA-256 ``digest``."""
    path = Path(test_log)
    if not path.exists():
        return []
    looks = []
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            if entry.get("weights_sha256") == digest:
                looks.append(str(entry.get("when")))
    return looks


def check_first_look(test_log: str | Path, digest: str, reason: str) -> list[str]:
    """Refuse (:class:`SecondLookError`) a test look at weights already on ``test_log`` unless
    ``reason`` says why; return the earlier looks' times (logged with the new look)."""
    looks = earlier_looks(test_log, digest)
    if looks and not reason.strip():
        raise SecondLookError(
            f"weights {digest[:16]}... were already looked at on the test set ({len(looks)} log line(s), "
            f"first {looks[0]}, in {test_log}); a second look needs a reason, which is logged with it "
            "(--reason, or the headline model's `reason` in config/headline.yaml)")
    return looks


def evaluate_headline(data: str, weights: str, out: str, test_log: str, *,
                      protocol: Sequence[tuple[dict[str, Any], int]] = LINF_PROTOCOL, seed: int = 0,
                      batch_size: int = 500, note: str = "", reason: str = "",
                      only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Attack ``weights`` per ``protocol`` (its rows whose attack is in ``only``, if given) on the
    test set of ``data``; write the rows (accuracy, 95% Wilson interval, images, seconds) to ``out``.

    A look at weights already on ``test_log`` (same SHA-256) is refused unless ``reason`` says why
    (:func:`check_first_look`); the reason and the earlier looks' times go into every line.
    Every look at the test set is logged as it ends: each finished row is appended to ``test_log``
    at once (and ``out`` rewritten), and AutoAttack, run component by component
    (:func:`~tradeoff.adversarial.robust_eval.autoattack_cascade`), appends a line after each of
    its attacks, so that a run stopped part-way leaves on record what it looked at."""
    model, meta = load_weights_and_metadata(None, weights, device="cpu")
    model = model.to(memory_format=torch.channels_last)  # the evaluation lever: the same function
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    earlier = check_first_look(test_log, digest, reason)  # before any image of the test set is read
    base = {"reason": reason, "earlier_looks": earlier, "commit": git_commit(), "code": headline_code_hashes(), "versions": package_versions(),
            "cpu": cpu_capabilities(), "weights": str(weights), "weights_sha256": digest,
            "architecture": meta.get("architecture"),
            "train_config": json.loads(meta["train_config"]) if "train_config" in meta else None,
            "torch": torch.__version__, "threads": torch.get_num_threads(), "note": note}
    rows: list[dict[str, Any]] = []

    def record(results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **base, "results": results}

    def append(results: list[dict[str, Any]]) -> None:
        with open(test_log, "a") as fh:
            fh.write(json.dumps(record(results), sort_keys=True) + "\n")

    for spec, n in protocol:
        if only is not None and spec["attack"] not in only:
            continue
        x, y, _ = eval_subset_indices(data, n, seed)
        t0 = time.perf_counter()
        if spec["attack"] == "autoattack":
            def component(c: dict[str, Any], spec: dict[str, Any] = spec) -> None:
                part = {**_row(spec, c["robust"], c["n"], c["seconds"]), "partial": True,
                        "component": c["component"]}
                log.info("autoattack after %s on %d test images: %.4f [%.4f, %.4f] in %.0f s", c["component"],
                         c["n"], part["accuracy"], *part["wilson95"], c["seconds"])
                append([part])

            comps = autoattack_cascade(model, x, y, spec, seed=seed, batch_size=batch_size, on_component=component)
            row = {**_row(spec, comps[-1]["robust"], len(y), time.perf_counter() - t0), "components": comps}
        else:
            table, _ = evaluate_grid_outcomes(model, x, y, [spec], batch_size=batch_size, device="cpu", seed=seed)
            acc = float(table["accuracy"].iloc[0])
            row = _row(spec, round(acc * len(y)), len(y), time.perf_counter() - t0)
        rows.append(row)
        log.info("%s on %d test images: %.4f [%.4f, %.4f] in %.0f s", spec["attack"], len(y), row["accuracy"],
                 *row["wilson95"], row["seconds"])
        append([row])
        io.write_json(record(rows), out)
    return rows


def look_at_chosen(data: str, selection: str, weights: str, out: str, test_log: str, *, protocol: str,
                  reason: str = "") -> list[dict[str, Any]]:
    """The workflow's one test look at a headline model: the weights its written rule chose
    (``selection``, :func:`tradeoff.stages.headline_trials.select_headline`) under ``protocol``'s
    rows; refused when the rule chose none, or when the weights are already on the log without a
    ``reason``."""
    chosen = io.read_json(selection)
    if chosen["chosen"] is None:
        raise SecondLookError(f"{chosen['model']}: no candidate passed its rule on validation, so no test look")
    note = f"{chosen['model']} ({chosen['chosen']}, chosen on validation by its rule in config/headline.yaml)"
    return evaluate_headline(data, weights, out, test_log, protocol=PROTOCOLS[protocol], note=note, reason=reason)


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before any attack runs, what would otherwise fail late or do nothing: an ``--only``
    name that is no row of the protocol (naming the valid ones), a ``--log`` whose folder is
    missing or not writable (found only after the evaluation), ``--threads`` below 1, a missing
    weights or data file. ``parser.error`` exits 2 with the usage line and the message."""
    valid = [spec["attack"] for spec, _ in PROTOCOLS[args.protocol]]
    unknown = [name for name in args.only or [] if name not in valid]
    if unknown:
        parser.error(f"--only: {', '.join(map(repr, unknown))} is not an attack of the {args.protocol} protocol; "
                     f"valid: {', '.join(valid)}")
    if args.threads < 1:
        parser.error(f"--threads: {args.threads} is not an integer >= 1")
    for flag, path in (("--log", args.log), ("out", args.out)):
        folder = Path(path).resolve().parent
        if not folder.is_dir():
            parser.error(f"{flag}: the folder {folder} of {path} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            parser.error(f"{flag}: the folder {folder} of {path} is not writable")
    for flag, path in (("weights", args.weights), ("--data", args.data)):
        if not Path(path).is_file():
            parser.error(f"{flag}: {path} is not a file")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("out")
    ap.add_argument("--log", required=True, help="the test-set log (JSON lines, appended)")
    ap.add_argument("--data", default="results/mnist/data.npz")
    ap.add_argument("--note", default="")
    ap.add_argument("--reason", default="", help="why weights already on the log are looked at again (logged)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--protocol", choices=sorted(PROTOCOLS), default="linf",
                    help="the threat model's rows: l_inf 0.3 (default) or l2 1.5")
    ap.add_argument("--only", nargs="+", default=None, metavar="ATTACK",
                    help="run only these rows of the protocol (clean, pgd, autoattack)")
    args = ap.parse_args(argv)
    check_arguments(ap, args)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    evaluate_headline(args.data, args.weights, args.out, args.log, protocol=PROTOCOLS[args.protocol],
                      note=args.note, reason=args.reason, only=args.only)


if __name__ == "__main__":
    main()
