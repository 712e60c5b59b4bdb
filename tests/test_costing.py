"""The costed plan: prices from the measured lever table, the CPU config's plan and its stages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import REPO, copy_workflow, dry_run_jobs

from tradeoff.workflow.config import load_yaml, validate_config
from tradeoff.workflow.costing import (
    CALIBRATION,
    Prices,
    attack_steps,
    calibrated_minutes,
    model_stages,
    plan_table,
    stage_plan,
    train_seconds,
)
from tradeoff.workflow.plan import mnist_models, mnist_recipes

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CPU = REPO / "config" / "cpu.yaml"


@pytest.fixture(scope="module")
def cpu() -> dict[str, Any]:
    return validate_config(load_yaml(CPU), SCHEMA)


def test_training_prices_are_the_closed_form() -> None:
    # one FGSM-RS training step 4 ms, one attack step 1 ms: PGD-5 costs 4 + 4 x 1, standard 4 - 1
    prices = Prices({("n", "train", "channels_last"): 250.0, ("n", "attack", "channels_last"): 1000.0})
    base = {"model": "n", "channels_last": True, "iterations": 10, "batch_size": 100}
    assert train_seconds({**base, "objective": "pgd", "steps": 5}, 0, prices) == pytest.approx(1000 * 0.008)
    assert train_seconds({**base, "objective": "standard"}, 0, prices) == pytest.approx(1000 * 0.003)
    assert train_seconds({**base, "objective": "trades", "steps": 5}, 0, prices) == pytest.approx(1000 * 0.009)
    by_epochs = {**base, "iterations": None, "epochs": 2, "objective": "fgsm"}
    assert train_seconds(by_epochs, 300, prices) == pytest.approx(600 * 0.004)  # epochs x size examples
    with pytest.raises(KeyError, match="no measured train throughput for net 'n' with levers 'bf16'"):
        train_seconds({**base, "objective": "pgd", "steps": 5, "channels_last": False, "precision": "bf16"}, 0,
                      prices)
    assert attack_steps({"attack": "pgd", "steps": 50, "restarts": 10}) == 500
    assert attack_steps({"attack": "fgsm"}) == 1


def test_calibration_is_the_committed_measurement() -> None:
    # the medians of bench/cost_calibration/cost_calibration_default.csv (a cold default run), rounded as written
    import statistics

    table = pd.read_csv(REPO / "bench" / "cost_calibration" / "cost_calibration_default.csv")
    for kind, rule in (("train", "mnist_train"), ("eval", "mnist_eval")):
        assert CALIBRATION[kind] == pytest.approx(statistics.median(table.loc[table["rule"] == rule, "ratio"]),
                                                  abs=5e-4)


def test_measured_prices_cover_the_configs_nets(cpu: dict[str, Any]) -> None:
    prices = Prices.from_csv()
    madry = prices.seconds("madry", "train", "bf16", True)
    assert 1 / madry == 878.0  # bench/cpu_levers/cpu_levers.csv's channels_last + bf16 Madry training row
    for recipe in mnist_recipes(cpu).values():
        assert train_seconds(recipe, 55000, prices) > 0


def test_cpu_config_meets_the_issue_design(cpu: dict[str, Any]) -> None:
    models = mnist_models(cpu)
    recipes = mnist_recipes(cpu)
    sizes = sorted({n for r, n, _ in models if r == "linf-0.3"})
    assert len(sizes) >= 5 and sizes[0] <= 1000 and sizes[-1] == 55000
    # at least 3 seeds for every model a claim compares: every (recipe, size) here
    seeds: dict[tuple[str, int], set[int]] = {}
    for r, n, s in models:
        seeds.setdefault((r, n), set()).add(s)
    assert min(len(s) for s in seeds.values()) >= 3, seeds
    assert all(recipes[r]["model"] == "wong" and "iterations" in recipes[r] for r, _, _ in models)
    assert cpu["mnist"]["device"] == "cpu" and cpu["mnist"]["evaluation"]["n"] >= 1000
    # every model belongs to a named stage: one target each
    assert set(model_stages(cpu).values()) == {"fig1_linf", "fig1_l2", "fig7"}


def test_cpu_plan_fits_the_budget_and_is_the_one_written_in_the_config(cpu: dict[str, Any]) -> None:
    plan = stage_plan(cpu)
    assert all(calibrated_minutes(row) <= 90 for row in plan.values()), plan
    assert sum(calibrated_minutes(row) for row in plan.values()) <= 240 - 10  # theory, tables, figures: minutes
    # the table at the top of config/cpu.yaml is this plan: editing the config without it fails here
    lines = CPU.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if re.match(r"#   stage +train +eval +total", line))
    last = next(i for i, line in enumerate(lines) if line.startswith("#   all "))
    written = "\n".join(lines[first:last + 1])
    assert written == plan_table(plan), "config/cpu.yaml's costed plan is stale: paste plan_table(stage_plan(...))"


@pytest.mark.slow
def test_stage_targets_train_and_evaluate_their_group(tmp_path: Path, cpu: dict[str, Any]) -> None:
    work = copy_workflow(tmp_path / "w", CPU, data="link")
    jobs = dry_run_jobs(work, "stage_fig1_l2")
    # 5 sizes x 3 seeds of l2-1.5; the transfer sources are the same recipe's other seeds (no copies)
    assert (jobs["mnist_train"], jobs["mnist_eval"], jobs["mnist_data"]) == (15, 15, 1), jobs
    assert set(jobs) == {"mnist_data", "mnist_train", "mnist_eval", "stage_fig1_l2"}, jobs


def test_preflight_refuses_a_bf16_plan_on_a_cpu_without_bf16(cpu, monkeypatch, capsys, tmp_path) -> None:
    """A plan that prices bf16 training would, on a CPU without AVX512-BF16/AMX-BF16, run those recipes in
    fp32 (measured about 3x slower), so `make paper-grade` stops before any job unless allowed. The
    committed plan is fp32 throughout: it runs, and costs the same, on every CPU."""
    from tradeoff import runtime
    from tradeoff.workflow import costing

    assert costing.bf16_recipes(cpu) == []
    no_bf16 = runtime.cpu_capabilities("flags : fpu avx2\n")
    assert not no_bf16["bf16"]
    assert costing.preflight(cpu, no_bf16) is None
    bf16 = {**cpu, "mnist": {**cpu["mnist"], "recipes": {k: {**r, "precision": "bf16"} if r.get("objective") != "standard"
                                                         else r for k, r in cpu["mnist"]["recipes"].items()}}}
    asked = costing.bf16_recipes(bf16)
    assert asked and set(asked) <= set(mnist_recipes(bf16)) and "standard" not in asked
    assert costing.preflight(bf16, runtime.cpu_capabilities("flags : avx2 avx512f avx512_bf16\n")) is None
    why = costing.preflight(bf16, no_bf16)
    assert why and "neither AVX512-BF16 nor AMX-BF16" in why and asked[0] in why
    monkeypatch.setattr(runtime, "cpu_capabilities", lambda: no_bf16)
    assert costing.main([str(CPU), "--preflight"]) == 0  # the committed fp32 plan passes
    assert "preflight: warning" not in capsys.readouterr().out
    bf16_yaml = tmp_path / "cpu-bf16.yaml"
    bf16_yaml.write_text(yaml.safe_dump(bf16))
    assert costing.main([str(bf16_yaml), "--preflight"]) == 3
    assert "--allow-no-bf16" in capsys.readouterr().out
    assert costing.main([str(bf16_yaml), "--preflight", "--allow-no-bf16"]) == 0
    assert "preflight: warning" in capsys.readouterr().out


RERUN = REPO / "config" / "rerun.yaml"


def test_the_rerun_plan_is_written_in_its_config_fits_its_stages_and_follows_the_seed_plan() -> None:
    """config/rerun.yaml (issue 30): its costed table is the costing's, every stage <= 45 calibrated
    minutes (<= 90 on the AVX2-only EPYC at about half the rate, at the cap), and every deciding cell's
    models have the seeds docs/results/seedplan/seed_plan.csv asks for (seeds 0..k-1, paired)."""
    import csv

    from tradeoff.workflow.plan import mnist_models

    rerun = validate_config(load_yaml(RERUN), SCHEMA)
    plan = stage_plan(rerun)
    assert all(calibrated_minutes(row) <= 45 for row in plan.values()), plan
    lines = RERUN.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if re.match(r"#   stage +train +eval +total", line))
    last = next(i for i, line in enumerate(lines) if line.startswith("#   all "))
    assert "\n".join(lines[first:last + 1]) == plan_table(plan), "config/rerun.yaml's costed plan is stale"
    seeds: dict[tuple[str, int], set[int]] = {}
    for recipe, size, seed in mnist_models(rerun):
        seeds.setdefault((recipe, size), set()).add(seed)
    eps_levels = {"linf-0.3": ["linf-eps-0.1", "linf-eps-0.2"], "l2-1.5": ["l2-eps-0.5", "l2-eps-1", "l2-eps-2.5"]}
    with open(REPO / "docs" / "results" / "seedplan" / "seed_plan.csv") as f:
        cells = list(csv.DictReader(f))
    assert len(cells) == 6
    for cell in cells:
        k, size = int(cell["seeds"]), int(cell["size"])
        models = [cell["recipe"], "standard"]
        if cell["claim"] == "robust_lose_standard_accuracy":
            models += eps_levels[cell["recipe"]]
        for recipe in models:
            assert set(range(k)) <= seeds[(recipe, size)], (cell["claim"], recipe, size, k)
    assert all(len(s) >= 3 for s in seeds.values())
