"""The cost of a config on the CPU, from measured throughput: a costed plan, stage by stage.

Pure Python (no torch at import). The unit prices are the medians of ``bench/cpu_levers/cpu_levers.py``
(``bench/cpu_levers/cpu_levers.csv``: 2 threads on the 2-core Zen 4 machine, each lever set timed in the same
process), per net and lever set (precision, channels_last):

* ``t_step``: one training step of one example under FGSM with a random start (the attack's
  gradient, then the weights' forward and backward): seconds = 1 / the ``train`` row;
* ``t_attack``: one attack step of one example (a forward and an input gradient, the scoring pass
  spread over the steps): seconds = 1 / the ``attack`` row.

From these, seconds per training example: ``standard`` t_step - t_attack (no attack), ``fgsm`` and
``nfgsm`` t_step, ``pgd`` t_step + (steps - 1) t_attack, ``trades`` one attack step more (its KL
target's clean forward); the catastrophic-overfitting guard adds PGD-10 on its validation images
after every epoch. An evaluation costs its attack steps (PGD: images x restarts x steps; FGSM one;
clean a third of one; AutoAttack :data:`tradeoff.workflow.cluster.AUTOATTACK_PASSES`, an upper estimate) at
the evaluation's levers, plus the gradient-masking checks. Jobs run with one thread each and
``--cores 2`` runs two at once: a stage's wall time is its work at the 2-thread rates times
:data:`CALIBRATION`, measured on a run of the default config.

A model's stage is the ``stage`` of the first ``mnist.models`` group that lists it; its transfer
source (``evaluation.sanity.source_recipe``) is costed where it is first needed.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from tradeoff.adversarial.stopping import StoppingRule
from tradeoff.workflow.cluster import AUTOATTACK_PASSES, CPU_EXAMPLES_PER_S
from tradeoff.workflow.config import masking_models, recipe_defaults, saliency_models
from tradeoff.workflow.plan import attack_grid, mnist_models, mnist_recipes, transfer_source

#: the measured table this module prices work with: package data, a copy of ``bench/cpu_levers/cpu_levers.csv``
#: (the bench's output; tests/test_costing.py checks the two are equal)
LEVERS_CSV: Traversable = files("tradeoff") / "cpu_levers.csv"
#: the config schema, package data: a copy of ``workflow/schemas/config.schema.yaml`` (the workflow's,
#: Snakemake's convention; tests/test_costing.py checks the two are equal), so that the command line
#: works from an installed package
CONFIG_SCHEMA: Traversable = files("tradeoff") / "config.schema.yaml"
#: the lever-set names of bench/cpu_levers/cpu_levers.py for (precision, channels_last)
LEVER_ROWS = {("fp32", False): "eager fp32 NCHW", ("fp32", True): "channels_last",
              ("bf16", False): "bf16", ("bf16", True): "channels_last + bf16"}
#: a forward pass as a share of an attack step (forward + input gradient)
FORWARD_SHARE = 1 / 3
#: measured / estimated, per kind of job: the median over a cold run of the default config (idle,
#: 2 cores of an Intel Xeon with AMX-BF16, not the Zen 4 of the price table; commit 550d30a; ``bench/cost_calibration/cost_calibration.py``, table ``bench/cost_calibration/cost_calibration_default.csv``)
#: of each job's one-thread wall time over twice its 2-thread estimate. Below 1: two one-thread jobs
#: side by side get more from the 2 cores than one 2-thread job (small nets scale poorly across
#: threads). A stage's wall time is then about CALIBRATION x its 2-thread estimate. Those jobs were
#: short (6-24 s, start-up included), so longer ones should come in under the calibrated figure.
CALIBRATION: dict[str, float] = {"train": 0.479, "eval": 0.701}


@dataclass(frozen=True)
class Prices:
    """Examples per second by (net, kind, lever name), kind ``train`` or ``attack``."""

    rates: dict[tuple[str, str, str], float]

    @classmethod
    def from_csv(cls, path: str | Path | Traversable = LEVERS_CSV) -> Prices:
        text = (Path(path) if isinstance(path, str) else path).read_text()
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        return cls({(r["net"], r["kind"], r["lever"]): float(r["examples_per_s"]) for r in rows})

    def seconds(self, net: str, kind: str, precision: str, channels_last: bool) -> float:
        """Seconds per example. A net the lever table lacks (the MLP judge) is priced at
        :data:`tradeoff.workflow.cluster.CPU_EXAMPLES_PER_S` (one thread, a loaded machine: generous)."""
        key = (net, kind, LEVER_ROWS[(precision, bool(channels_last))])
        if key not in self.rates and not any(n == net for n, _, _ in self.rates) and net in CPU_EXAMPLES_PER_S:
            return 1.0 / CPU_EXAMPLES_PER_S[net]
        if key not in self.rates:
            known = sorted({n for n, _, _ in self.rates})
            raise KeyError(f"no measured {kind} throughput for net {net!r} with levers {key[2]!r} "
                           f"(bench/cpu_levers/cpu_levers.csv has nets {', '.join(known)})")
        return 1.0 / self.rates[key]


def train_examples(recipe: dict[str, Any], size: int) -> int:
    """Examples a recipe trains on: ``iterations`` x ``batch_size``, or ``epochs`` x ``size``; under
    the training-length rule (``stopping``) its cap x ``size``, the worst case."""
    if recipe.get("stopping"):
        return StoppingRule.from_dict(recipe["stopping"]).cap(size) * size
    if recipe.get("epochs"):
        return int(recipe["epochs"]) * size
    return int(recipe["iterations"]) * int(recipe["batch_size"])


def train_seconds(recipe: dict[str, Any], size: int, prices: Prices, default_precision: str = "fp32") -> float:
    """Estimated seconds to train ``recipe`` on ``size`` images (2 threads); the keys it leaves out
    take the schema's defaults (:func:`tradeoff.workflow.config.recipe_defaults`)."""
    recipe = {**recipe_defaults(), **recipe}
    net, cl = recipe["model"], bool(recipe.get("channels_last", False))
    precision = recipe.get("precision", default_precision)
    t_step = prices.seconds(net, "train", precision, cl)
    t_attack = prices.seconds(net, "attack", precision, cl)
    objective = recipe.get("objective", "standard")
    steps = int(recipe.get("steps", 1))
    per_example = {"standard": t_step - t_attack, "fgsm": t_step, "nfgsm": t_step,
                   "pgd": t_step + (steps - 1) * t_attack,
                   "trades": t_step + steps * t_attack}[objective]
    seconds = train_examples(recipe, size) * per_example
    guard = recipe.get("guard")
    if guard and recipe.get("epochs"):  # PGD on the guard's validation images after every epoch
        seconds += int(recipe["epochs"]) * int(guard["n"]) * (int(guard["steps"]) + 1) * t_attack
    if recipe.get("stopping"):  # the rule's validation score after every epoch, up to the cap
        rule = StoppingRule.from_dict(recipe["stopping"])
        per_epoch = (rule.clean_n * FORWARD_SHARE if objective == "standard"
                     else rule.robust_n * (rule.robust_steps + 1))
        seconds += rule.cap(size) * per_epoch * t_attack
    return seconds


def attack_steps(spec: dict[str, Any]) -> float:
    """Attack steps per image of one grid entry (clean: a forward, a third of a step)."""
    kind = spec["attack"]
    if kind == "clean":
        return FORWARD_SHARE
    if kind == "fgsm":
        return 1.0
    if kind == "autoattack":
        return float(AUTOATTACK_PASSES)
    return float(spec.get("restarts", 1) * spec.get("steps", 40))


def eval_seconds(config: dict[str, Any], recipe: dict[str, Any], prices: Prices, name: str | None = None) -> float:
    """Estimated seconds of one model's evaluation job: the grid and the gradient-masking checks."""
    mn = config["mnist"]
    ev = mn["evaluation"]
    t_attack = prices.seconds(recipe["model"], "attack", mn.get("precision", "fp32"),
                              bool(ev.get("channels_last", False)))
    sanity = ev["sanity"]
    grid = attack_grid(config, name)  # the entries recipe ``name`` runs (None: all)
    attacked = sum(attack_steps(s) for s in grid if s["attack"] != "clean") + 2 * (int(sanity["steps"]) + 1) + 2
    clean = sum(attack_steps(s) for s in grid if s["attack"] == "clean")
    return (int(ev["n"]) * clean + int(ev.get("attack_n", ev["n"])) * attacked) * t_attack


def masking_seconds(config: dict[str, Any], prices: Prices) -> float:
    """Estimated seconds of the masking jobs (``mnist.masking``; none without it): PGD and AutoAttack on
    the first ``n`` images of each listed model (AutoAttack priced at its worst case, every image robust)."""
    mn = config["mnist"]
    if "masking" not in mn:
        return 0.0
    masking, recipes = mn["masking"], mnist_recipes(config)
    per_image = (int(masking["pgd"]["restarts"]) * int(masking["pgd"]["steps"]) + AUTOATTACK_PASSES
                 + FORWARD_SHARE)
    return sum(int(masking["n"]) * per_image
               * prices.seconds(recipes[r]["model"], "attack", "fp32", bool(mn["evaluation"].get("channels_last", False)))
               for r, _, _ in masking_models(mn))


def saliency_seconds(config: dict[str, Any], prices: Prices) -> float:
    """Estimated seconds of the saliency stage's torch jobs (judges, extraction; 2 threads)."""
    sal = config["saliency"]
    mn_precision = config["mnist"].get("precision", "fp32")
    judge = {**sal["judge"], "objective": "standard"}
    robust = {**sal["robust_judge"], "objective": "pgd"}
    seconds = sum(train_seconds(j, 0, prices, mn_precision) for j in (judge, robust))
    recipes = mnist_recipes(config)
    le = sal["large_eps"]
    steps = 2 * 10 * le["per_class"] * 9 * (le["steps"] + 1) + 10 * sal["examples"]["per_class"] * 2
    for recipe, _, _ in saliency_models(config):
        seconds += steps * prices.seconds(recipes[recipe]["model"], "attack", mn_precision, False)
    return seconds


def model_stages(config: dict[str, Any]) -> dict[tuple[str, int, int], str]:
    """(recipe, size, seed) -> stage: the ``stage`` of the first group listing it (``mnist``
    where none is named)."""
    out: dict[tuple[str, int, int], str] = {}
    for group in config["mnist"]["models"]:
        for r in group["recipes"]:
            for n in group["sizes"]:
                for s in group["seeds"]:
                    out.setdefault((r, int(n), int(s)), group.get("stage", "mnist"))
    return out


def stage_plan(config: dict[str, Any], prices: Prices | None = None) -> dict[str, dict[str, float]]:
    """Stage -> {``train``, ``eval``, ``total``} estimated minutes on 2 cores; the saliency stage
    (its extraction and judges; its models are trained by the mnist stages) as ``saliency``, the masking
    jobs (``mnist.masking``) as ``masking``."""
    prices = prices or Prices.from_csv()
    recipes = mnist_recipes(config)
    precision = config["mnist"].get("precision", "fp32")
    stages = model_stages(config)
    trained: set[tuple[str, int, int]] = set()
    plan: dict[str, dict[str, float]] = {name: {"train": 0.0, "eval": 0.0}
                                         for name in dict.fromkeys(stages.values())}  # config order
    for model in mnist_models(config):
        stage = stages[model]
        row = plan[stage]
        for m in (model, transfer_source(config, *model)):
            if m not in trained:
                trained.add(m)
                row["train"] += train_seconds(recipes[m[0]], m[1], prices, precision) / 60
        row["eval"] += eval_seconds(config, recipes[model[0]], prices, model[0]) / 60
    if "saliency" in config:
        plan["saliency"] = {"train": 0.0, "eval": saliency_seconds(config, prices) / 60}
    if "masking" in config["mnist"]:  # its models are trained by the mnist stages
        plan["masking"] = {"train": 0.0, "eval": masking_seconds(config, prices) / 60}
    for row in plan.values():
        row["total"] = row["train"] + row["eval"]
    return plan


def plan_table(plan: dict[str, dict[str, float]], calibration: dict[str, float] | None = None) -> str:
    """The plan as the comment block a config carries at its top: whole minutes (rounded up) of
    each estimate times its kind's ``calibration`` (default :data:`CALIBRATION`)."""
    cal = calibration or CALIBRATION
    lines = [f"#   {'stage':<14}{'train':>7}{'eval':>7}{'total':>7}  (minutes on 2 cores: estimate x "
             f"{cal['train']:.2f} train, x {cal['eval']:.2f} eval)"]
    total = 0.0
    for name, row in plan.items():
        t, e = row["train"] * cal["train"], row["eval"] * cal["eval"]
        total += t + e
        lines.append(f"#   {name:<14}{math.ceil(t):>7}{math.ceil(e):>7}{math.ceil(t + e):>7}")
    lines.append(f"#   {'all':<14}{'':>7}{'':>7}{math.ceil(total):>7}")
    return "\n".join(lines)


def calibrated_minutes(row: dict[str, float], calibration: dict[str, float] | None = None) -> float:
    """A stage's expected wall minutes: its estimates times the calibration of their kind."""
    cal = calibration or CALIBRATION
    return row["train"] * cal["train"] + row["eval"] * cal["eval"]


#: measured on a CPU without bf16 hardware (2 cores of an AMD EPYC with AVX2 and no AVX-512, family 25
#: model 1; 2026-12-03, commit e6cbe55, ``make paper-grade``): ``linf-0.3`` training jobs of
#: ``config/cpu.yaml`` (ask bf16, ran fp32) took 741-797 s against 207-251 s for the same jobs on the
#: Zen 4 of the price table, a median of 3.16x (``bench/cost_calibration/cost_no_bf16_epyc.csv``); the plan does not hold.
NO_BF16_SLOWDOWN: float = 3.2


def bf16_recipes(config: dict[str, Any]) -> list[str]:
    """The MNIST recipes of ``config`` that train in bf16 (``precision`` of the recipe or of
    ``mnist.defaults``; ``mnist.precision`` is the evaluation's), sorted."""
    if not config.get("mnist"):
        return []
    return sorted(name for name, r in mnist_recipes(config).items() if r.get("precision", "fp32") == "bf16")


def preflight(config: dict[str, Any], caps: dict[str, bool]) -> str | None:
    """Why the costed plan of ``config`` does not hold on a CPU with capabilities ``caps``
    (:func:`tradeoff.runtime.cpu_capabilities`), or None when it does: its plan prices bf16 training,
    and without AVX512-BF16 or AMX-BF16 those recipes fall back to fp32 (same recipe, other weights),
    measured at about :data:`NO_BF16_SLOWDOWN` x the planned training time."""
    from tradeoff.runtime import resolve_levers  # the training jobs' own decision, so the two agree

    asked = bf16_recipes(config)
    if not asked or resolve_levers("bf16", "cpu", caps=caps).precision == "bf16":
        return None
    return (f"this CPU has neither AVX512-BF16 nor AMX-BF16, so the {len(asked)} recipes that train in bf16 "
            f"({', '.join(asked[:4])}{', ...' if len(asked) > 4 else ''}) fall back to fp32: training measured "
            f"about {NO_BF16_SLOWDOWN:g}x slower than the costed plan (bench/RESULTS.md), and the weights are "
            "not those of a bf16 run")


def main(argv: list[str] | None = None) -> int:
    """``python -m tradeoff.workflow.costing CONFIG [--preflight] [--allow-no-bf16]``: print the config's costed
    plan; with ``--preflight``, exit 3 when the plan does not hold on this CPU (unless allowed)."""
    import argparse

    from tradeoff.runtime import cpu_capabilities
    from tradeoff.workflow.config import load_yaml, validate_config

    ap = argparse.ArgumentParser(prog="python -m tradeoff.workflow.costing", description="The costed plan of a config.")
    ap.add_argument("config")
    ap.add_argument("--schema", help="the config schema (default: the package's copy of the workflow's)")
    ap.add_argument("--preflight", action="store_true", help="check the plan against this CPU")
    ap.add_argument("--allow-no-bf16", action="store_true", help="run anyway on a CPU without bf16 support")
    args = ap.parse_args(argv)
    with as_file(CONFIG_SCHEMA) as schema:
        config = validate_config(load_yaml(args.config), args.schema or schema)
    print(plan_table(stage_plan(config), CALIBRATION))
    capped = sorted(n for n, r in mnist_recipes(config).items() if r.get("stopping")) if config.get("mnist") else []
    if capped:
        print(f"#   recipes under the stopping rule ({', '.join(capped)}) are priced at its cap: a worst case")
    if args.preflight:
        why = preflight(config, cpu_capabilities())
        if why and not args.allow_no_bf16:
            print(f"preflight: {args.config}: {why}. Run it on a CPU with AVX512-BF16 or AMX, or pass "
                  "--allow-no-bf16 (make paper-grade ALLOW_NO_BF16=1) to run it anyway.")
            return 3
        if why:
            print(f"preflight: warning: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
