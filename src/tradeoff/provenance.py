"""Provenance: which package modules a stage uses, their content hash, versions, commit, config hash."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import platform
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "tradeoff"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(module: str) -> Path:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"{module!r} is not a module of the {PACKAGE} package")
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    raise ValueError(f"no source file for module {module!r} under {PACKAGE_DIR}")


def _imports(module: str, path: Path) -> set[str]:
    """Package-internal modules imported by ``module`` (absolute and relative imports)."""
    return set(_imports_in_source(module, path.name == "__init__.py", path.read_text(), str(path)))


@functools.lru_cache(maxsize=1024)
def _imports_in_source(module: str, is_pkg: bool, source: str, filename: str) -> frozenset[str]:
    """:func:`_imports` of one version of a module's source, parsed once per process: every Snakemake
    start hashes each stage's closure (:func:`tradeoff.workflow.plan.stage_code_hashes`), and the
    stages share most of their modules. Keyed by the source text, so an edited file is parsed again."""
    tree = ast.parse(source, filename=filename)
    package_parts = module.split(".") if is_pkg else module.split(".")[:-1]
    found: set[str] = set()
    for node in _statements(tree.body):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                try:
                    _module_file(name)
                except ValueError:
                    continue  # "from pkg.mod import function": the function is not a module
                found.add(name)
    return frozenset(found)


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every statement in ``body`` and in the blocks nested in it (functions, classes, if, try, with,
    loops, match): where an import can stand. Expressions, most of a tree's nodes, are not walked."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                yield from _statements(block)


def module_closure(*modules: str) -> list[str]:
    """The given modules plus every package module they import, transitively (parents included)."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        parts = mod.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        todo.extend(_imports(mod, _module_file(mod)) - seen)
    return sorted(seen)


def code_hash(*modules: str) -> str:
    """SHA-256 (16 hex digits) over the source of ``modules`` and everything they import from the package.

    Used in rules' ``params:`` so that editing a module re-runs exactly the rules that use it.
    """
    h = hashlib.sha256()
    for mod in module_closure(*modules):
        h.update(mod.encode())
        h.update(b"\0")
        h.update(_module_file(mod).read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def config_hash(config: Any) -> str:
    """SHA-256 (16 hex digits) of a config, independent of key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit(repo: Path | None = None) -> str:
    """The checked-out commit (with '-dirty' if the tree has changes), or 'unknown' outside git."""
    cwd = repo or PACKAGE_DIR
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def install_route(prefix: str | None = None) -> dict[str, str]:
    """Which route installed this interpreter's packages: ``conda`` (an env, envs/*.yaml: its prefix
    has conda-meta/) or ``pip`` (a venv from requirements/lock.txt). Their versions may differ by a
    minor version (envs/README.md), so a result names its route."""
    root = Path(prefix or sys.prefix)
    return {"route": "conda" if (root / "conda-meta").is_dir() else "pip", "prefix": str(root)}


def package_versions(names: tuple[str, ...] = (
    "numpy", "scipy", "pandas", "scikit-learn", "matplotlib", "seaborn", "torch", "torchvision",
    "snakemake", "tradeoff",
)) -> dict[str, str]:
    """Installed versions of the packages that shape our numbers ('absent' where not installed)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def report_safe_json(value: Any) -> str:
    """``value`` as JSON text that is safe inside an HTML ``<script>`` element.

    Snakemake's report writes every job's params, unescaped, into a ``<script>`` block, so a config
    string holding ``</script>`` would end it and run what follows in the reader's browser. Here
    ``<``, ``>`` and ``&`` become JSON escapes (``\\u003c``, ...): the text holds none of them, and
    :func:`json.loads` gives back exactly ``value``. Keys are sorted (params are compared as text).
    """
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

