"""Checks of the run settings Snakemake parsed from profiles and the command line.

Snakemake checks some profile values late or not at all: ``set-threads: {theory_fit: many}`` fails
only when that rule's first job is scheduled (after other rules' jobs ran); with ``cores: -3`` or
``jobs: 0`` a dry run passes and a real run starts jobs; a rule name misspelt under
``set-threads:`` or ``set-resources:`` is ignored silently. The workflow calls
:func:`check_resource_settings` once every rule is defined, so such values stop the run before any
job starts, with a message naming the key and the value. Each setting may come from a profile or
from the command line (the profile key's flag, e.g. ``--set-threads``); the messages say so.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

# Names an expression (a string value Snakemake evaluates per job) may use: Snakemake 9.27's
# namespace for them (snakemake.resources.Resource.cli_evaluator plus
# snakemake.ioutils.register_in_globals), and Python's builtins. An unknown name makes Snakemake
# keep the text as a plain string (its way of allowing `slurm_partition: gpu`), which a number of
# threads or a size cannot be: it fails only once a job of the rule is scheduled.
EXPRESSION_NAMES = frozenset(dir(builtins)) | {
    "wildcards", "input", "output", "params", "resources", "threads", "attempt", "rulename",
    "system_tmpdir", "shutil", "async_run", "lookup", "evaluate", "branch", "collect", "exists",
    "prepend_param", "subpath", "parse_input", "extract_checksum", "flatten", "choose_file",
    "choose_folder", "choose_tmp", "as_py_module",
}  # fmt: skip

# Resources whose value must be a number: sizes and times (Snakemake converts their units, so a
# string that is no valid expression fails at scheduling), and the GPU count the rules declare.
# Every resource given a global limit (`resources:`) is numeric too.
NUMERIC_RESOURCES = frozenset(
    {"mem", "mem_mb", "mem_mib", "disk", "disk_mb", "disk_mib", "runtime", "gpu"}
)


class ProfileError(ValueError):
    """A run setting (profile key or command-line flag) is malformed; the message names both."""


class ResourceSettingsLike(Protocol):
    """What the check reads of ``snakemake.settings.types.ResourceSettings`` (Snakemake 9.27)."""

    @property
    def cores(self) -> int | None: ...
    @property
    def nodes(self) -> int | None: ...
    @property
    def local_cores(self) -> int | None: ...
    @property
    def max_threads(self) -> int | None: ...
    @property
    def resources(self) -> Mapping[str, Any]: ...
    @property
    def overwrite_threads(self) -> Mapping[str, Any]: ...
    @property
    def overwrite_resources(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def default_resources(self) -> Mapping[str, Any] | None: ...


def _where(key: str) -> str:
    """The sources of a setting, for the message: Snakemake takes each from a profile or a flag."""
    top = key.split(".", 1)[0]
    return f"(a profile's `{top}:` or the command line's --{top})"


def _fail(key: str, value: Any, problem: str) -> ProfileError:
    return ProfileError(f"profile key {key}: {value!r} {problem} {_where(key)}")


class _Uncheckable:
    def __repr__(self) -> str:
        return "<callable>"


UNCHECKABLE: Any = _Uncheckable()


def written(name: str, value: Any) -> tuple[str, Any]:
    """The resource's name and value as written. Snakemake wraps parsed values in ``Resource``
    objects that keep the text in ``.raw``, but renames sizes (``mem`` and ``mem_mib`` become
    ``mem_mb``, ``.raw`` lost for ``mem``): the name and text of an expression are read back from
    its evaluator, where they can be. A Python callable (set through the API) gives UNCHECKABLE:
    it can only be called, in a job's context."""
    if not (hasattr(value, "raw") and hasattr(value, "is_evaluable")):
        return name, value
    if not value.is_evaluable():
        return name, value.raw
    func = getattr(value, "_evaluator", None)
    try:
        found = inspect.getclosurevars(inspect.unwrap(func)).nonlocals if callable(func) else {}
    except (TypeError, ValueError):
        found = {}
    text, original = found.get("value"), found.get("name")
    if isinstance(text, str) and isinstance(original, str):
        return original, text
    return name, UNCHECKABLE if value.raw is None else value.raw


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expression_problem(text: str) -> str | None:
    """Why Snakemake cannot evaluate ``text`` to a number, or None if it may (it is evaluated per
    job, with the job's input, wildcards and attempt, so only its form and names can be checked)."""
    text = os.path.expanduser(os.path.expandvars(text))  # as Snakemake does before evaluating
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return "is not a valid Python expression"
    if isinstance(tree.body, ast.Constant) and not (
        is_int(tree.body.value) or isinstance(tree.body.value, float)
    ):
        return "is a quoted string, not a number"
    unknown = sorted(
        {
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and node.id not in EXPRESSION_NAMES
        }
    )
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        return (
            f"uses the unknown name{plural} {names} (Snakemake provides attempt, input, "
            "wildcards, threads and Python's builtins)"
        )
    return None


def _check_count(key: str, value: Any, minimum: int, what: str = "an integer") -> None:
    if value is not None and not (is_int(value) and value >= minimum):
        raise _fail(key, value, f"is not {what} >= {minimum}")


def _check_threads(key: str, value: Any) -> None:
    value = written("_cores", value)[1]
    if value is UNCHECKABLE or callable(value):
        return
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            problem = expression_problem(value)
            if problem is not None:
                raise _fail(
                    key, value, f"is not an integer >= 1 and, as an expression, {problem}"
                ) from None
            return
    _check_count(key, value, 1)


HINTS = {"runtime": " or a duration like '2h'", "mem": " or a size like '4GB'"}
HINTS["disk"] = HINTS["mem"]


def _check_resource(prefix: str, name: str, value: Any, numeric: Collection[str]) -> None:
    if name.startswith("_"):
        return  # Snakemake's own (_cores, _nodes)
    name, value = written(name, value)
    key = f"{prefix}.{name}"
    if value is None or value is UNCHECKABLE or callable(value):
        return
    if isinstance(value, float):
        if value < 0:
            raise _fail(key, value, "is negative")
        return
    if isinstance(value, str):
        if name not in numeric:
            return  # a string resource (slurm_partition, slurm_extra, tmpdir): any text will do
        try:
            value = int(value.strip())
        except ValueError:
            problem = expression_problem(value)
            if problem is not None:
                hint = HINTS.get(name, "")
                raise _fail(
                    key, value, f"is not an integer >= 0{hint} and, as an expression, {problem}"
                ) from None
            return
    _check_count(key, value, 0)


def _check_rule_names(key: str, names: Iterable[str], rules: Collection[str]) -> None:
    for name in names:
        if name not in rules:
            known = ", ".join(sorted(rules))
            raise ProfileError(
                f"profile key {key}.{name}: the workflow has no rule {name!r} {_where(key)}; "
                f"its rules: {known}"
            )


def check_resource_settings(settings: ResourceSettingsLike, rules: Collection[str]) -> None:
    """Raise ProfileError naming the first malformed setting among cores, jobs, local-cores,
    max-threads, resources, set-threads, set-resources and default-resources.

    ``rules`` are the workflow's rule names: set-threads and set-resources may name only those.
    """
    # Run locally without --cores, Snakemake takes --jobs for --cores (and a dry run takes 1).
    if settings.cores is not None and not (is_int(settings.cores) and settings.cores >= 1):
        raise ProfileError(
            f"profile key cores: {settings.cores!r} is not an integer >= 1 or 'all' "
            "(a profile's `cores:` or the command line's --cores; run locally without either, "
            "`jobs:`/--jobs stands in for it)"
        )
    _check_count("jobs", settings.nodes, 1, "'unlimited' or an integer")
    _check_count("local-cores", settings.local_cores, 1)
    _check_count("max-threads", settings.max_threads, 1)

    limits = settings.resources
    numeric = NUMERIC_RESOURCES | {name for name in limits if not name.startswith("_")}
    for name, value in limits.items():
        _check_resource("resources", name, value, numeric)

    _check_rule_names("set-threads", settings.overwrite_threads, rules)
    for rule, threads in settings.overwrite_threads.items():
        _check_threads(f"set-threads.{rule}", threads)

    _check_rule_names("set-resources", settings.overwrite_resources, rules)
    for rule, resources in settings.overwrite_resources.items():
        for name, value in resources.items():
            _check_resource(f"set-resources.{rule}", name, value, numeric)

    for name, value in (settings.default_resources or {}).items():
        _check_resource("default-resources", name, value, numeric)
