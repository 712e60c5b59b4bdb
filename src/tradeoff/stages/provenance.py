"""Stage: the run's provenance manifest: config and its hash, commit, versions, device, and a SHA-256 of
every table, so each table can be traced to the exact code, config and software that made it."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Sequence
from typing import Any

from tradeoff import io
from tradeoff.provenance import config_hash, git_commit, install_route, package_versions
from tradeoff.runtime import cpu_capabilities


def _device() -> dict[str, Any]:
    try:
        import torch
    except ImportError:  # pragma: no cover - the theory-only env
        return {"torch": "absent"}
    cuda = torch.cuda.is_available()
    return {"cuda_available": cuda, "cpu_capabilities": cpu_capabilities(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
            "cpu": platform.processor() or platform.machine()}


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_provenance(tables: list[str], json_out: str, md_out: str, *, config: dict[str, Any] | str,
                     data: Sequence[str] = (), code: dict[str, str] | None = None) -> None:
    """Write the manifest as JSON and as a Markdown summary (for the report). ``config`` may come as the
    text of :func:`tradeoff.provenance.report_safe_json` (how the workflow passes it). ``data``: the
    data files the run read (MNIST's source files and the validated npz), hashed like the tables. ``code``:
    each stage's code hash (:func:`tradeoff.workflow.plan.stage_code_hashes`), so a committed run can be
    checked against the current code."""
    if isinstance(config, str):
        config = json.loads(config)
    assert isinstance(config, dict)
    digests = {p: _sha256(p) for p in sorted(tables)}
    data_digests = {p: _sha256(p) for p in sorted(data)}
    mnist = config.get("mnist") or {}
    record: dict[str, Any] = {
        "config_hash": config_hash(config),
        "commit": git_commit(),
        "versions": package_versions(),
        "install": install_route(),
        "platform": platform.platform(),
        "device": _device(),
        "mnist_device": mnist.get("device"),
        "mnist_precision": mnist.get("precision"),
        "tables": digests,
        "data": data_digests,
        "code": dict(sorted((code or {}).items())),
        "config": config,
    }
    io.write_json(record, json_out)
    lines = [
        f"- config hash: `{record['config_hash']}`",
        f"- commit: `{record['commit']}`",
        f"- platform: {record['platform']}",
        f"- device: {json.dumps(record['device'])}; MNIST device `{record['mnist_device']}`, "
        f"precision `{record['mnist_precision']}`",
        f"- installed by: {record['install']['route']} (`{record['install']['prefix']}`)",
        "- code hashes: " + (", ".join(f"{k} `{v}`" for k, v in record["code"].items()) or "not given"),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
        "",
        "| table | SHA-256 |",
        "| --- | --- |",
        *(f"| `{p}` | `{h}` |" for p, h in digests.items()),
        *(["", "| data file | SHA-256 |", "| --- | --- |"] if data_digests else []),
        *(f"| `{p}` | `{h}` |" for p, h in data_digests.items()),
    ]
    with io.atomic_path(md_out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
