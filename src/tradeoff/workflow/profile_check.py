"""Checks of the run settings a user writes: profile YAML files and their command-line flags.

Snakemake checks some profile values late or not at all: ``set-threads: {theory_fit: many}`` fails
only when that rule's first job is scheduled (after other rules' jobs ran); with ``cores: -3`` or
``jobs: 0`` a dry run passes and a real run starts jobs; a rule name misspelt under
``set-threads:`` or ``set-resources:`` is ignored silently, and so is a resource name the SLURM
plugin does not read (``slurm_partion``); a ``gpu_model`` on a rule that requests no GPU makes the
plugin ask for ``--gpus=<model>:0`` (:mod:`tradeoff.workflow.slurm_resources`). The workflow calls :func:`check_run`
once every rule is defined, so such values stop the run before any job starts, with a message
naming the key, the value and where it was written (a profile file or a flag).

The check reads what the user wrote, not what Snakemake made of it: the profile files Snakemake
would read (``--profile``, ``$SNAKEMAKE_PROFILE``, ``--workflow-profile`` or the workflow's
``profiles/default``, found as Snakemake's documentation describes) and the command line, and holds
them to this module's own schema (:data:`SCHEMA`): counts are integers (or ``all``/``unlimited``),
sizes and times are integers, sizes like ``4GB`` or durations like ``2h``, or expressions that may
use only :data:`EXPRESSION_NAMES`. It reads no Snakemake object, so a Snakemake upgrade cannot break
it; a value this schema rejects that a newer Snakemake would accept is named in the message, and the
schema is one table to extend.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tradeoff.workflow.slurm_resources import gpu_model_problem, unknown_resource

EXPRESSION_NAMES = frozenset(dir(builtins)) | {
    "attempt", "input", "output", "params", "resources", "threads", "wildcards", "rulename",
}  # fmt: skip
"""Names an expression (a string Snakemake evaluates per job) may use here: the job's attempt,
files, params, resources, threads and wildcards, and Python's builtins. (Snakemake keeps a string
with an unknown name as plain text, which a thread count or a size cannot be: it fails only once a
job of the rule is scheduled.)"""

NUMERIC_RESOURCES = frozenset({"mem", "mem_mb", "mem_mib", "disk", "disk_mb", "disk_mib", "runtime", "gpu"})
"""Resources whose value must be a number (or a size, a duration, an expression): Snakemake converts
the units of sizes and times, and the rules' GPU count. Every resource given a global limit
(``resources:``) is numeric too."""

SIZE = re.compile(r"\s*\d+(\.\d+)?\s*([kmgtp]i?)?b?\s*", re.I)
DURATION = re.compile(r"\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w|sec|secs|min|mins|hours?|days?|weeks?)\s*)+", re.I)
UNITS: dict[str, tuple[re.Pattern[str], str]] = {
    "mem": (SIZE, "a size like '4GB'"),
    "disk": (SIZE, "a size like '4GB'"),
    "runtime": (DURATION, "a duration like '2h'"),
}


class ProfileError(ValueError):
    """A run setting (profile key or command-line flag) is malformed; the message names both."""


@dataclass(frozen=True)
class Source:
    """Where settings were written: a profile file or the command line (for the message)."""

    name: str
    command_line: bool = False

    def where(self, key: str) -> str:
        if self.command_line:
            return f"(the command line's --{key.split('.', 1)[0]})"
        return f"(a profile's `{key.split('.', 1)[0]}:`, in {self.name})"


def _fail(source: Source, key: str, value: Any, problem: str) -> ProfileError:
    return ProfileError(f"profile key {key}: {value!r} {problem} {source.where(key)}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_number(value: Any) -> Any:
    """A command-line value as YAML would read it: '3' -> 3, '-0.5' -> -0.5; other text unchanged."""
    if isinstance(value, str):
        for cast in (int, float):
            try:
                return cast(value.strip())
            except ValueError:
                pass
    return value


def expression_problem(text: str) -> str | None:
    """Why ``text`` cannot be a numeric expression, or None if it may be one (it is evaluated per
    job, with the job's input, wildcards and attempt, so only its form and names can be checked)."""
    text = os.path.expanduser(os.path.expandvars(text))  # as Snakemake does before evaluating
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return "is not a valid Python expression"
    if isinstance(tree.body, ast.Constant) and not (is_int(tree.body.value) or isinstance(tree.body.value, float)):
        return "is a quoted string, not a number"
    unknown = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in EXPRESSION_NAMES})
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        return f"uses the unknown name{plural} {names} (expressions may use attempt, input, wildcards, threads and Python's builtins)"
    return None


# ---------------------------------------------------------------------------------------------------
# The schema: one checker per key


Checker = Callable[[Source, str, Any, "Context"], None]


@dataclass(frozen=True)
class Context:
    rules: Collection[str]
    numeric: Collection[str]
    limits: Collection[str] = ()  # resources given a global limit (`resources:`): user throttles


def _count(minimum: int, word: str | None = None) -> Checker:
    what = f"{word!r} or an integer" if word else "an integer"

    def check(source: Source, key: str, value: Any, ctx: Context) -> None:
        value = _as_number(value)
        if value is None or (word is not None and value == word):
            return
        if not (is_int(value) and value >= minimum):
            raise _fail(source, key, value, f"is not {what} >= {minimum}")

    return check


def _cores(source: Source, key: str, value: Any, ctx: Context) -> None:
    value = _as_number(value)
    if value is not None and value != "all" and not (is_int(value) and value >= 1):
        raise _fail(source, key, value, "is not an integer >= 1 or 'all'")


def _threads(source: Source, key: str, value: Any, ctx: Context) -> None:
    value = _as_number(value)
    if isinstance(value, str):
        problem = expression_problem(value)
        if problem is not None:
            raise _fail(source, key, value, f"is not an integer >= 1 and, as an expression, {problem}")
        return
    if not (is_int(value) and value >= 1):
        raise _fail(source, key, value, "is not an integer >= 1")


def _resource(source: Source, key: str, value: Any, ctx: Context) -> None:
    name = key.rsplit(".", 1)[-1]
    if name.startswith("_") or value is None:
        return  # Snakemake's own (_cores, _nodes)
    if not key.startswith("resources."):  # a global limit names a throttle; a job's resource may be a typo
        problem = unknown_resource(name, ctx.limits)
        if problem is not None:
            raise ProfileError(f"profile key {key}: {problem} {source.where(key)}. A resource of your own "
                               "needs a limit under `resources:`")
    value = _as_number(value)
    if isinstance(value, float):
        if value < 0:
            raise _fail(source, key, value, "is negative")
        return
    if isinstance(value, str):
        if name not in ctx.numeric:
            return  # a string resource (slurm_partition, slurm_extra, tmpdir): any text will do
        unit = UNITS.get(name)
        if unit is not None and unit[0].fullmatch(value):
            return
        problem = expression_problem(value)
        if problem is not None:
            hint = f" or {unit[1]}" if unit else ""
            raise _fail(source, key, value, f"is not an integer >= 0{hint} and, as an expression, {problem}")
        return
    if not (is_int(value) and value >= 0):
        raise _fail(source, key, value, "is not an integer >= 0")


def _mapping(item: Checker) -> Checker:
    def check(source: Source, key: str, value: Any, ctx: Context) -> None:
        if not isinstance(value, Mapping):
            raise _fail(source, key, value, "is not a mapping of names to values")
        for name, sub in value.items():
            item(source, f"{key}.{name}", sub, ctx)

    return check


def _per_rule(item: Checker) -> Checker:
    def check(source: Source, key: str, value: Any, ctx: Context) -> None:
        if not isinstance(value, Mapping):
            raise _fail(source, key, value, "is not a mapping of rule names to values")
        for rule in value:
            if rule not in ctx.rules:
                raise ProfileError(
                    f"profile key {key}.{rule}: the workflow has no rule {rule!r} {source.where(key)}; "
                    f"its rules: {', '.join(sorted(ctx.rules))}"
                )
        for rule, sub in value.items():
            item(source, f"{key}.{rule}", sub, ctx)

    return check


SCHEMA: dict[str, Checker] = {
    "cores": _cores,
    "jobs": _count(1, "unlimited"),
    "local-cores": _count(1),
    "max-threads": _count(1),
    "resources": _mapping(_resource),
    "set-threads": _per_rule(_threads),
    "set-resources": _per_rule(_mapping(_resource)),
    "default-resources": _mapping(_resource),
}
"""Profile key (or flag, without its dashes) -> its check. Other keys are Snakemake's to check."""


def _limit_names(settings: Mapping[str, Any]) -> set[str]:
    """The resources one profile file or command line gives a global limit (``resources:``)."""
    limits = {str(k).replace("_", "-"): v for k, v in settings.items()}.get("resources")
    return {str(n) for n in limits if not str(n).startswith("_")} if isinstance(limits, Mapping) else set()


def check_settings(settings: Mapping[str, Any], source: Source, rules: Collection[str],
                   numeric: Collection[str] = NUMERIC_RESOURCES, limits: Collection[str] | None = None) -> None:
    """Raise ProfileError naming the first malformed setting of one profile file or command line.

    ``settings`` maps profile keys (dashes or underscores) to values as written; ``rules`` are the
    workflow's rule names: set-threads and set-resources may name only those. ``limits``: the
    resources with a global limit in any source of the run (default: this one's), user throttles; any
    other resource name close to one the SLURM plugin reads is taken for a typo
    (:func:`tradeoff.workflow.slurm_resources.unknown_resource`).
    """
    norm = {str(k).replace("_", "-"): v for k, v in settings.items()}
    own = _limit_names(settings)
    ctx = Context(rules, set(numeric) | own, own if limits is None else set(limits) | own)
    for key, check in SCHEMA.items():
        if norm.get(key) is not None:  # a key with only comments under it is empty
            check(source, key, norm[key], ctx)


# ---------------------------------------------------------------------------------------------------
# Where the settings come from: the command line and the profile files it names


def _pairs(key: str, items: Iterable[str], source: Source) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ProfileError(f"profile key {key}: {item!r} is not NAME=VALUE {source.where(key)}")
        out[name.strip()] = value
    return out


def command_line_settings(argv: Sequence[str]) -> dict[str, Any]:
    """The settings of :data:`SCHEMA` given on a Snakemake command line, shaped as in a profile
    (``--set-resources rule:mem_mb=1`` -> ``{"set-resources": {"rule": {"mem_mb": "1"}}}``)."""
    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    ap.add_argument("--cores", "-c", nargs="?", const="all")
    ap.add_argument("--jobs", "-j", nargs="?", const=None)
    ap.add_argument("--local-cores")
    ap.add_argument("--max-threads")
    ap.add_argument("--resources", "--res", nargs="*")
    ap.add_argument("--set-threads", nargs="+")
    ap.add_argument("--set-resources", nargs="+")
    ap.add_argument("--default-resources", "--default-res", nargs="*")
    known, _ = ap.parse_known_args(list(argv))
    cli = Source("the command line", command_line=True)
    out: dict[str, Any] = {}
    for key in ("cores", "jobs", "local-cores", "max-threads"):
        value = getattr(known, key.replace("-", "_"))
        if value is not None:
            out[key] = value
    for key in ("resources", "default-resources", "set-threads"):
        value = getattr(known, key.replace("-", "_"))
        if value:
            out[key] = _pairs(key, value, cli)
    if known.set_resources:
        per_rule: dict[str, dict[str, Any]] = {}
        for item in known.set_resources:
            rule, sep, rest = item.partition(":")
            if not sep:
                raise ProfileError(f"profile key set-resources: {item!r} is not RULE:NAME=VALUE {cli.where('set-resources')}")
            per_rule.setdefault(rule, {}).update(_pairs("set-resources", [rest], cli))
        out["set-resources"] = per_rule
    return out


PROFILE_FILE = re.compile(r"(profile|config)(?:\.v(\d+)\+)?\.yaml")


def profile_file(path: Path, major: int) -> Path | None:
    """The profile file of a profile folder: ``profile.yaml`` or ``config.yaml``, or the
    versioned ``profile.vN+.yaml`` with the highest N <= ``major`` (the Snakemake major version)."""
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    found = {}
    for child in path.iterdir():
        m = PROFILE_FILE.fullmatch(child.name)
        if m and int(m.group(2) or 0) <= major:
            found[child] = int(m.group(2) or 0)
    return max(found, key=lambda p: (found[p], p.name)) if found else None


def profile_files(argv: Sequence[str], env: Mapping[str, str], basedir: Path, major: int) -> list[Path]:
    """The profile files a Snakemake run with this command line reads (workflow profile first)."""
    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    ap.add_argument("--profile", action="append")
    ap.add_argument("--workflow-profile")
    known, _ = ap.parse_known_args(list(argv))
    files: list[Path] = []
    wp = known.workflow_profile
    if wp != "none":
        name = Path(wp or "default")
        for candidate in (name, Path("profiles") / name, basedir / "profiles" / name):
            if candidate.exists():
                found = profile_file(candidate, major)
                files += [found] if found else []
                break
    profiles = known.profile or ([env["SNAKEMAKE_PROFILE"]] if env.get("SNAKEMAKE_PROFILE") else [])
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for name in profiles:
        if name == "none":
            continue
        path = Path(name)
        dirs = [path] if path.exists() else [Path.cwd() / name, config_home / "snakemake" / name,
                                             Path("/etc/xdg/snakemake") / name]
        for candidate in dirs:
            found = profile_file(candidate, major)
            if found is not None:
                files.append(found)
                break
    return files


def snakemake_arguments(argv: Sequence[str]) -> list[str] | None:
    """The arguments of a Snakemake command line (``snakemake ...`` or ``python -m snakemake ...``);
    None when this process is not one (the Python API passes its settings otherwise)."""
    if not argv:
        return None
    program = Path(argv[0])
    if program.name == "snakemake" or (program.name == "__main__.py" and program.parent.name == "snakemake"):
        return list(argv[1:])
    return None


def snakemake_major() -> int:
    """The installed Snakemake's major version (which versioned profile files it reads)."""
    from importlib.metadata import version

    return int(version("snakemake").split(".")[0])


def check_gpu_models(sources: Sequence[tuple[Mapping[str, Any], Source]],
                     rule_gpus: Mapping[str, Any]) -> None:
    """Raise ProfileError for a ``gpu_model`` (in ``set-resources`` or ``default-resources``) on a rule
    whose resources request no GPU. ``rule_gpus``: each rule's own ``gpu`` resource as the workflow
    declares it (None: none; rules not in it are not checked). A rule's resources are its own over
    ``default-resources``, under ``set-resources``, as Snakemake merges them; later sources win."""
    default: dict[str, Any] = {}
    per_rule: dict[str, dict[str, Any]] = {}
    origin: dict[tuple[str, str], tuple[str, Source]] = {}  # (rule or "", name) -> (key, source)
    for settings, source in sources:
        norm = {str(k).replace("_", "-"): v for k, v in settings.items()}
        d = norm.get("default-resources")
        if isinstance(d, Mapping):
            for name, value in d.items():
                default[str(name)] = _as_number(value)
                origin[("", str(name))] = (f"default-resources.{name}", source)
        s = norm.get("set-resources")
        if isinstance(s, Mapping):
            for rule, res in s.items():
                if isinstance(res, Mapping):
                    for name, value in res.items():
                        per_rule.setdefault(str(rule), {})[str(name)] = _as_number(value)
                        origin[(str(rule), str(name))] = (f"set-resources.{rule}.{name}", source)
    for rule in sorted(rule_gpus):
        own = {} if rule_gpus[rule] is None else {"gpu": rule_gpus[rule]}
        merged = {**default, **own, **per_rule.get(rule, {})}
        model = merged.get("gpu_model")
        if model in (None, ""):
            continue
        problem = gpu_model_problem(rule, model, merged)
        if problem is not None:
            key, source = origin.get((rule, "gpu_model")) or origin[("", "gpu_model")]
            raise ProfileError(f"profile key {key}: {model!r} {problem} {source.where(key)}")


def check_run(argv: Sequence[str], env: Mapping[str, str], basedir: Path, rules: Collection[str],
              major: int | None = None, rule_gpus: Mapping[str, Any] | None = None) -> None:
    """Check the profile files a run with these arguments reads and the arguments themselves; raise
    ProfileError on the first malformed setting. (A profile file that is not valid YAML is
    Snakemake's to report, and it does, naming the file.) With ``rule_gpus`` (rule -> its own
    ``gpu`` resource, None for none), also a ``gpu_model`` on a rule that requests no GPU."""
    major = snakemake_major() if major is None else major
    sources: list[tuple[Mapping[str, Any], Source]] = []
    for path in profile_files(argv, env, basedir, major):
        try:
            settings = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(settings, Mapping):
            sources.append((settings, Source(str(path))))
    sources.append((command_line_settings(argv), Source("the command line", command_line=True)))
    limits: set[str] = set()
    for settings, _ in sources:  # a resource given a global limit anywhere is numeric everywhere
        limits |= _limit_names(settings)
    numeric = set(NUMERIC_RESOURCES) | limits
    for settings, source in sources:
        check_settings(settings, source, rules, numeric, limits)
    if rule_gpus is not None:
        check_gpu_models(sources, rule_gpus)
