"""Bad config stops the run before any job starts, with a message that names the key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake

from tradeoff.workflow.config import (
    ConfigError,
    check_caps,
    fmt,
    load_yaml,
    sweep_fits,
    validate_config,
)
from tradeoff.workflow.plan import all_fits

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _delete(path: str) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        del node[last]

    return edit


# (case id, edit of the default config, text the error must contain)
BAD = [
    ("unknown-key", _set("theory.base.temperature", 3), "theory.base.temperature: unknown key"),
    ("unknown-top-key", _set("threads", 8), "config key threads: unknown key"),
    ("wrong-type", _set("theory.base.d", "many"), "theory.base.d"),
    ("wrong-type-list", _set("theory.eps_test", 2), "theory.eps_test"),
    ("missing-required", _delete("theory.base.p"), "theory.base.p: required key is missing"),
    ("missing-section", _delete("plots"), "config key plots: required key is missing"),
    ("p-too-large", _set("theory.base.p", 1.0), "theory.base.p"),
    ("p-too-small", _set("theory.sweeps.tradeoff.p", [0.4, 0.9]), "theory.sweeps.tradeoff.p[0]"),
    ("eps-negative", _set("theory.eps_test", [0, -1]), "theory.eps_test[1]"),
    ("d-zero", _set("theory.base.d", 0), "theory.base.d"),
    ("n-one", _set("theory.base.n_train", 1), "theory.base.n_train"),
    ("C-zero", _set("theory.sweeps.C.C", [0, 1]), "theory.sweeps.C.C[0]"),
    ("bad-norm", _set("theory.base.norm", "l3"), "theory.base.norm"),
    ("empty-sweep-list", _set("theory.sweeps.eta.eta", []), "theory.sweeps.eta.eta"),
    ("empty-seeds", _set("theory.seeds", []), "theory.seeds"),
    ("unknown-sweep-axis", _set("theory.sweeps.eta.gamma", [1]), "theory.sweeps.eta.gamma: unknown key"),
    ("cross-field-bound-not-in-eps-test", _set("theory.figures.bound_eps_test", 2.5),
     "theory.figures.bound_eps_test: 2.5 is not one of theory.eps_test"),
    ("cross-field-bound-below-2eta", _set("theory.figures.bound_eps_test", 1),
     "Theorem 2.1 needs eps >= 2*eta"),
    ("cross-field-axis-sweep-varies-two", _set("theory.figures.axis_sweeps", ["tradeoff"]),
     "must vary exactly one axis"),
    ("undefined-sweep", _set("theory.figures.tradeoff_sweep", "nosuch"),
     "theory.figures.tradeoff_sweep: refers to sweep 'nosuch', which is not defined"),
    ("mnist-undefined-recipe", _set("mnist.models", [{"recipes": ["nosuch"], "sizes": [100], "seeds": [0]}]),
     "mnist.models[0].recipes[0]: refers to recipe 'nosuch', which is not defined"),
    ("mnist-epochs-and-iterations", _set("mnist.recipes.standard", {"objective": "standard", "epochs": 2, "iterations": 5}),
     "mnist.recipes.standard: set exactly one of epochs and iterations"),
    ("mnist-pgd-without-eps", _set("mnist.recipes.trades-1", {"objective": "pgd", "norm": "linf"}),
     "objective 'pgd' needs norm, eps > 0, alpha and steps"),
    ("mnist-no-transfer-source", _set("mnist.evaluation.sanity.source_recipe", "trades-1"),
     "the transfer source 'trades-1' must be trained at every size and seed"),
    ("mnist-recipe-named-same", _set("mnist.recipes.same", {"objective": "standard"}),
     "mnist.recipes.same: the name is reserved"),
    ("mnist-bad-source", _set("mnist.data.source", "internet"), "mnist.data.source"),
    ("mnist-local-without-path", _set("mnist.data.source", "local"), "mnist.data.path: source 'local' needs"),
    ("mnist-sweep-undefined-recipe", _set("mnist.sweeps", {"e": {"recipe": "nosuch", "key": "eps", "values": [1]}}),
     "mnist.sweeps.e.recipe: refers to recipe 'nosuch'"),
    ("mnist-size-too-small", _set("mnist.models", [{"recipes": ["standard"], "sizes": [5], "seeds": [0]}]),
     "mnist.models[0].sizes[0]"),
    ("undefined-axis-sweep", _set("theory.figures.axis_sweeps", ["eta", "nosuch"]),
     "theory.figures.axis_sweeps[1]: refers to sweep 'nosuch'"),
    ("saliency-without-mnist", _delete("mnist"), "config key saliency: needs the mnist section"),
    ("saliency-undefined-recipe", _set("saliency.models.recipes", ["standard", "nosuch"]),
     "saliency.models.recipes[1]: refers to recipe 'nosuch', which is not defined"),
    ("saliency-model-not-trained", _set("saliency.models.size", 1500),
     "config key saliency.models: recipe 'standard' at size 1500, seed 0 is not trained"),
    ("saliency-no-robust-recipe", _set("saliency.models.recipes", ["standard"]),
     "saliency.models.recipes: needs at least one standard and one robust"),
    ("saliency-judge-same-architecture", _set("saliency.judge.model", "small"),
     "config key saliency.judge.model: 'small' is the architecture of studied recipe 'standard'"),
    ("saliency-bad-judge-architecture", _set("saliency.judge.model", "resnet"), "saliency.judge.model"),
    ("saliency-robust-judge-same-architecture", _set("saliency.robust_judge.model", "small"),
     "config key saliency.robust_judge.model: 'small' is the architecture of studied recipe 'standard'"),
    ("saliency-robust-judge-bad-norm", _set("saliency.robust_judge.norm", "l1"), "saliency.robust_judge.norm"),
    ("saliency-pixel-judge-method", _set("saliency.pixel_judge.method", "svm"), "saliency.pixel_judge.method"),
    ("saliency-small-eps-not-small", _set("saliency.controls.small_eps", 4.0),
     "config key saliency.controls.small_eps: 4.0 must be below saliency.large_eps.eps"),
    ("saliency-weak-corr", _set("saliency.linear.weak_corr", 0), "saliency.linear.weak_corr"),
    ("recipe-unknown-init", _set("mnist.recipes.standard.init", "xavier"), "mnist.recipes.standard.init"),
    ("saliency-same-digits", _set("saliency.linear.digits", [3, 3]), "saliency.linear.digits"),
    ("saliency-eps-negative", _set("saliency.large_eps.eps", -4), "saliency.large_eps.eps"),
    ("saliency-unknown-key", _set("saliency.judge.epochs", 3), "saliency.judge.epochs: unknown key"),
    ("saliency-size-over-half", lambda cfg: (
        cfg["mnist"]["data"].update(source="local", path="/data/mnist"),
        cfg["mnist"]["models"].append({"recipes": ["standard", "linf-0.3", "l2-1.5"], "sizes": [40000], "seeds": [0]}),
        cfg["saliency"]["models"].update(size=40000)),
     "config key saliency.models.size: 40000 exceeds half of the 55000 training images"),  # 5,000 held out
]


def _bad_config(edit: Callable[[dict], None]) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    edit(cfg)
    return cfg


@pytest.mark.parametrize("path", ["config/config.yaml", "config/paper.yaml", "config/sweeps.yaml", "config/cpu.yaml",
                                  "tests/config/tiny.yaml"])
def test_shipped_configs_are_valid(path: str) -> None:
    validate_config(load_yaml(REPO / path), SCHEMA)


@pytest.mark.parametrize(("edit", "message"), [(e, m) for _, e, m in BAD], ids=[i for i, _, _ in BAD])
def test_validator_names_the_key(edit: Callable[[dict], None], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(_bad_config(edit), SCHEMA)
    assert message in str(err.value)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("theory:\n  base: {p: 0.9\n")
    with pytest.raises(ConfigError, match=r"(?s)bad\.yaml: malformed YAML.*line 2"):
        load_yaml(bad)


# Through Snakemake itself: the run stops at parse time, nothing is built, the message names the key.
WORKFLOW_CASES = [c for c in BAD if c[0] in {
    "unknown-key", "wrong-type", "missing-required", "p-too-large", "eps-negative", "d-zero", "n-one",
    "empty-sweep-list", "cross-field-bound-not-in-eps-test", "undefined-sweep",
}]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("badconfig"), data="link")


@pytest.mark.parametrize(("edit", "message"), [(e, m) for _, e, m in WORKFLOW_CASES],
                         ids=[i for i, _, _ in WORKFLOW_CASES])
@pytest.mark.slow
def test_snakemake_stops_before_any_job(scratch: Path, edit: Callable[[dict], None], message: str) -> None:
    (scratch / "config" / "config.yaml").write_text(yaml.safe_dump(_bad_config(edit)))
    proc = snakemake(scratch, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert not (scratch / "results").exists(), "a job started despite the bad config"


@pytest.mark.slow
def test_snakemake_malformed_yaml(scratch: Path) -> None:
    (scratch / "config" / "config.yaml").write_text("theory:\n  base: [1, 2\n")
    proc = snakemake(scratch, check=False)
    assert proc.returncode != 0
    assert "config/config.yaml: malformed YAML" in proc.stderr + proc.stdout
    assert not (scratch / "results").exists()


def test_number_slugs_round_trip() -> None:
    for x in (0.95, 4.0, 4, 1e-5, 0.1, 12345678, 2.5e-3):
        assert float(fmt(x)) == float(x)
    assert fmt(4.0) == "4" and fmt(0.95) == "0.95" and fmt(1e-5) == "0.00001"


def test_job_grid_of_default_config() -> None:
    fits = sweep_fits(DEFAULT, "tradeoff")
    sweep = DEFAULT["theory"]["sweeps"]["tradeoff"]
    assert len(fits) == len(sweep["p"]) * len(sweep["d"]) * len(sweep["eps_train"])
    # eps_train = 0 is the standard SVM whatever the threat model: one job, not one per norm
    norm_fits = sweep_fits(DEFAULT, "norm")
    assert sum(f.eps_train == 0 for f in norm_fits) == 1
    # shared points are fitted once across sweeps
    assert len(all_fits(DEFAULT)) == len({f.path for f in all_fits(DEFAULT)})


def test_model_sizes_beyond_the_training_pool_are_refused_at_parse_time() -> None:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["mnist"]["models"][0]["sizes"] = [56000]
    with pytest.raises(ConfigError, match=r"mnist.models\[0\].sizes\[0\]: 56000 exceeds the 55,000 training"):
        check_caps(cfg)
    cfg["mnist"]["data"]["validation"] = 0
    check_caps(cfg)


def test_readme_fast_recipes_validate_over_the_default_config() -> None:
    """The issue-13 recipes of docs/DEVELOPING.md (epochs over the defaults' iterations) pass the schema and the
    cross-field checks, and train for epochs."""
    import re

    from tradeoff.workflow.plan import mnist_recipes

    block = re.search(r"```yaml\n(fgsm-rs:.*?)```", (REPO / "docs" / "DEVELOPING.md").read_text(), re.S)
    assert block, "docs/DEVELOPING.md: the fgsm-rs example is missing"
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["mnist"]["recipes"].update(yaml.safe_load(block.group(1)))
    cfg["mnist"]["models"].append({"recipes": ["fgsm-rs", "nfgsm"], "sizes": [4000], "seeds": [0]})
    filled = validate_config(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")
    recipes = mnist_recipes(filled)
    assert recipes["fgsm-rs"]["epochs"] == 10 and "iterations" not in recipes["fgsm-rs"]
    assert recipes["standard"]["iterations"] == 250 and "epochs" not in recipes["standard"]


def test_saliency_panel_keys_default_when_absent() -> None:
    """A config written before the judge panel (tests/config/tiny.yaml) gets the schema's defaults."""
    from tradeoff.workflow.config import load_yaml, validate_config

    root = Path(__file__).resolve().parents[1]
    cfg = validate_config(load_yaml(root / "tests/config/tiny.yaml"), root / "workflow/schemas/config.schema.yaml")
    sal = cfg["saliency"]
    assert "robust_judge" not in load_yaml(root / "tests/config/tiny.yaml")["saliency"]
    assert sal["robust_judge"] == {"model": "mlp", "norm": "l2", "eps": 1.5, "alpha": 0.75, "steps": 5,
                                   "eps_warmup": 100, "lr": 0.001, "batch_size": 64, "iterations": 400}
    assert sal["pixel_judge"] == {"method": "knn", "k": 5} and sal["controls"] == {"small_eps": 0.5, "seed": 0}
    assert sal["alignment"]["null_seed"] == 0 and sal["linear"]["weak_corr"] == 0.1
