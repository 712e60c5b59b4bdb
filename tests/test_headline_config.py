"""config/headline.yaml: the headline trials are config entries whose complete recipes are the ones
the recorded validation trials (docs/results/cpu/headline/trials) ran, and its rules are checked."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tradeoff.adversarial.training import TrainConfig
from tradeoff.workflow import plan
from tradeoff.workflow.config import ConfigError, load_yaml, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TRIALS = REPO / "docs" / "results" / "cpu" / "headline" / "trials"


def _raw() -> dict[str, Any]:
    """config/config.yaml with config/headline.yaml over it (Snakemake's --configfile merge)."""
    raw = load_yaml(REPO / "config" / "config.yaml")
    raw.update(load_yaml(REPO / "config" / "headline.yaml"))
    return raw


def test_every_recorded_trial_is_a_config_entry_with_its_recorded_recipe_and_threads() -> None:
    config = validate_config(_raw(), SCHEMA)
    recorded = sorted(p.stem for p in TRIALS.glob("*.json"))
    assert set(recorded) <= set(plan.headline_trials(config))
    for name in recorded:
        for line in (TRIALS / f"{name}.json").read_text().splitlines():  # wong-pgd2-e8: two runs
            rec = json.loads(line)
            assert TrainConfig.from_dict(plan.headline_trial_params(config, name)).to_dict() == rec["config"], name
            assert plan.headline_trial_threads(config, name) == rec["threads"], name
    assert plan.headline_validation_params(config) == {"batch_size": 500, "clean_n": 5000, "restarts": 10,
                                                       "robust_n": 1000, "seed": 1, "steps": 50}


def test_headline_models_name_their_rules_and_protocols() -> None:
    config = validate_config(_raw(), SCHEMA)
    assert plan.headline_models(config) == ["l2-1.5-wong-pgd5", "linf-0.3-madry-pgd5", "linf-0.3-wong-pgd2",
                                            "linf-0.3-wong-trades6"]
    rule = plan.headline_rule(config, "linf-0.3-madry-pgd5")
    assert rule == {"min_clean": 0.985, "min_robust": 0.0, "otherwise": "best", "protocol": "linf",
                    "trials": ["fgsm-rs", "wong-pgd5", "madry-pgd5"]}
    assert plan.headline_rule(config, "l2-1.5-wong-pgd5")["protocol"] == "l2"
    assert plan.headline_look_params(config, "linf-0.3-wong-pgd2") == {  # no reason: a second look is refused
        "protocol": "linf", "reason": "", "test_log": "docs/results/cpu/headline/test_set_log.jsonl"}
    # the default config has no headline section: no headline targets
    assert plan.headline_trials(validate_config(load_yaml(REPO / "config" / "config.yaml"), SCHEMA)) == []


def test_a_rule_naming_an_unknown_trial_or_a_headline_without_mnist_is_refused() -> None:
    raw = _raw()
    bad = copy.deepcopy(raw)
    bad["headline"]["models"]["linf-0.3-wong-pgd2"]["trials"] = ["wong-pgd2-e9"]
    with pytest.raises(ConfigError, match=r"headline.models.linf-0.3-wong-pgd2.trials: \['wong-pgd2-e9'\]"):
        validate_config(bad, SCHEMA)
    bad = copy.deepcopy(raw)
    del bad["mnist"], bad["saliency"]
    with pytest.raises(ConfigError, match="headline: needs the mnist section"):
        validate_config(bad, SCHEMA)
    bad = copy.deepcopy(raw)
    bad["headline"]["trials"]["fgsm-rs"]["recipe"]["epochs"] = 0
    with pytest.raises(ConfigError, match="headline.trials.fgsm-rs.recipe.epochs"):
        validate_config(bad, SCHEMA)
    bad = copy.deepcopy(raw)  # precision has no schema default (a recipe's is mnist.precision's, not here)
    del bad["headline"]["defaults"]["precision"]
    with pytest.raises(ConfigError, match="headline.trials.fgsm-nors.recipe: sets no precision"):
        validate_config(bad, SCHEMA)


def test_the_workflow_reproduced_the_recorded_validation_trials() -> None:
    """docs/results/cpu/headline/workflow/: trials run by the workflow (rules headline_train and
    headline_validate, with their code hashes) on the kind of CPU that ran the recorded ones (2 cores
    of an AMD EPYC with AVX2 only): the same recipe and threads, identical validation numbers and
    per-epoch guard records (issue 28)."""
    made = sorted((REPO / "docs" / "results" / "cpu" / "headline" / "workflow").glob("*.json"))
    assert {p.stem for p in made} >= {"wong-pgd2-e8", "wong-trades6"}
    for path in made:
        rec = json.loads(path.read_text())
        assert set(rec["code"]) == {"headline_trials"} and len(rec["code"]["headline_trials"]) == 16
        for line in (TRIALS / path.name).read_text().splitlines():
            old = json.loads(line)
            assert rec["config"] == old["config"] and rec["threads"] == old["threads"], path.name
            assert (rec["val_clean"], rec["val_robust"]) == (old["val_clean_5000"], old["val_pgd50x10_1000"]), path.name
            assert rec["val_robust_per_epoch"] == old["val_robust_per_epoch"], path.name
            assert rec["train_adv_acc_per_epoch"] == old["train_adv_acc_per_epoch"], path.name
            assert rec["guard"] == old["guard"] and (rec["val_clean_n"], rec["val_robust_n"]) == (5000, 1000)
