"""Progress of long attack evaluations (issue 32 item 3): share done, examples/s and ETA after the first
batch, at most every 30 s, and at the end; per grid entry and per AutoAttack component. A fake clock
drives every test (nothing sleeps)."""

from __future__ import annotations

import logging

import pytest
import torch

from tradeoff.adversarial import progress as progress_mod
from tradeoff.adversarial.progress import EtaLog, duration
from tradeoff.adversarial.robust_eval import autoattack_cascade, evaluate_grid_outcomes, spec_text
from tradeoff.nets.models import build_model

torch.set_num_threads(1)


class FakeClock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float, start: float = 1000.0) -> None:
        self.now, self.step = start, step

    def __call__(self) -> float:
        t = self.now
        self.now += self.step
        return t


def test_duration() -> None:
    assert [duration(s) for s in (0, 12.4, 65, 3723, float("nan"), -1)] == ["0s", "12s", "1m05s", "1h02m03s", "?", "?"]


def test_lines_first_every_30_s_and_last_with_rate_and_eta() -> None:
    clock = FakeClock(10.0)  # created at t=1000; each batch's advance reads t+10, t+20, ...
    lines: list[str] = []
    p = EtaLog("PGD linf eps=0.3 (1/2)", 1000, clock=clock, emit=lines.append)
    out = [p.advance(100) for _ in range(10)]
    # first batch (t=10 s), then >= 30 s since the last line (t=40, 70, 100), and the last batch (t=100)
    assert [o is not None for o in out] == [True, False, False, True, False, False, True, False, False, True]
    assert lines[0] == "PGD linf eps=0.3 (1/2): 100/1000 examples (10.0%), 10.0 examples/s, 10s elapsed, ETA 1m30s"
    assert lines[1] == "PGD linf eps=0.3 (1/2): 400/1000 examples (40.0%), 10.0 examples/s, 40s elapsed, ETA 1m00s"
    assert lines[-1] == "PGD linf eps=0.3 (1/2): 1000/1000 examples (100.0%), 10.0 examples/s, 1m40s elapsed, ETA 0s"
    assert len(lines) == 4


def test_a_slow_batch_gives_a_line_each_and_a_rate_that_changes() -> None:
    lines: list[str] = []
    p = EtaLog("AutoAttack", 300, clock=FakeClock(100.0), emit=lines.append)
    for _ in range(3):
        p.advance(100)
    assert len(lines) == 3 and "ETA 3m20s" in lines[0] and "1.0 examples/s" in lines[0]


def test_bad_totals_are_refused_and_an_empty_pass_logs_once() -> None:
    with pytest.raises(ValueError, match="total"):
        EtaLog("x", -1)
    with pytest.raises(ValueError, match="every"):
        EtaLog("x", 1, every=-1)
    lines: list[str] = []
    EtaLog("x", 0, clock=FakeClock(1.0), emit=lines.append).advance(0)
    assert lines == ["x: 0/0 examples (100.0%), ? examples/s, 1s elapsed, ETA 0s"]


def test_a_heartbeat_reports_a_batch_that_runs_long() -> None:
    """Inside one long batch (AutoAttack: minutes) a line comes every `every` seconds all the same."""
    from tradeoff.adversarial.progress import Heartbeat

    lines: list[str] = []
    p = EtaLog("AutoAttack linf eps=0.3, APGD-T (2/4)", 1000, clock=FakeClock(30.0), emit=lines.append)
    p.advance(500)  # batch 1: t = 30
    p._batch = (2, 500, 60.0 + 1000)  # what running() records at the start of batch 2 (t = 60)
    waits = iter([False, False, True])  # two periods pass, then the batch ends
    Heartbeat(p, wait=lambda s: next(waits)).run()
    assert lines[1:] == [
        "AutoAttack linf eps=0.3, APGD-T (2/4): 500/1000 examples (50.0%), 8.3 examples/s, 1m00s elapsed, "
        "ETA 1m00s; batch 2 (500) running for 0s",
        "AutoAttack linf eps=0.3, APGD-T (2/4): 500/1000 examples (50.0%), 5.6 examples/s, 1m30s elapsed, "
        "ETA 1m30s; batch 2 (500) running for 30s"]


def test_running_counts_the_batch_and_stops_its_heartbeat() -> None:
    import threading

    lines: list[str] = []
    p = EtaLog("x", 20, clock=FakeClock(1.0), emit=lines.append)
    before = threading.active_count()
    with p.running(10):
        assert threading.active_count() == before + 1  # the heartbeat, waiting 30 s of real time
    assert threading.active_count() == before and p.done == 10 and len(lines) == 1
    with pytest.raises(RuntimeError), p.running(10):
        raise RuntimeError("the attack failed")
    assert p.done == 10 and threading.active_count() == before  # a failed batch counts nothing
    with p.running(10, heartbeat=False):
        assert threading.active_count() == before
    assert p.done == 20 and lines[-1].startswith("x: 20/20 examples (100.0%)")


def test_spec_text() -> None:
    from tradeoff.adversarial.robust_eval import normalize_spec

    assert spec_text(normalize_spec({"attack": "pgd", "norm": "linf", "eps": 0.3, "steps": 20})) == \
        "PGD linf eps=0.3, 20 steps x 1 restart"
    assert spec_text(normalize_spec({"attack": "autoattack", "norm": "l2", "eps": 1.5})) == "AutoAttack l2 eps=1.5"


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock(40.0)  # every batch 40 s: one line per batch
    monkeypatch.setattr(progress_mod, "CLOCK", clock)
    return clock


def _mlp() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model("mlp")
    x = torch.rand(24, 1, 28, 28)
    with torch.no_grad():
        y = model(x).argmax(1)  # all clean-correct: every example is attacked
    return model, x, y


def test_the_grid_logs_each_entry_batch_by_batch(fake_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    model, x, y = _mlp()
    grid = [{"attack": "clean"}, {"attack": "pgd", "norm": "linf", "eps": 0.01, "steps": 2}]
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.progress"):
        evaluate_grid_outcomes(model, x, y, grid, batch_size=10, device="cpu")
    lines = [r.getMessage() for r in caplog.records if r.name == "tradeoff.adversarial.progress"]
    assert len(lines) == 3  # 24 examples in batches of 10, 10, 4
    assert all(line.startswith("PGD linf eps=0.01, 2 steps x 1 restart (2/2): ") for line in lines)
    # the clock is read when each batch starts and when it ends: 80 s a batch
    assert "10/24 clean-correct examples (41.7%), 0.1 clean-correct examples/s, 1m20s elapsed, ETA 1m52s" in lines[0]
    assert "24/24 clean-correct examples (100.0%)" in lines[-1] and lines[-1].endswith("ETA 0s")


def test_autoattack_logs_each_component_batch_by_batch(fake_clock: FakeClock,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    model, x, y = _mlp()
    spec = {"attack": "autoattack", "norm": "linf", "eps": 0.02, "steps": 2, "n_queries": 5}
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.progress"):
        comps = autoattack_cascade(model, x, y, spec, seed=0, batch_size=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "tradeoff.adversarial.progress"]
    first = [line for line in lines if ", APGD-CE (1/4): " in line]
    assert len(first) == 3 and first[0].startswith("AutoAttack linf eps=0.02, APGD-CE (1/4): 10/24 examples (41.7%)")
    assert "ETA" in first[0] and first[-1].endswith("ETA 0s")
    # each later component logs its own pass over the examples still robust
    named = {c["component"] for c in comps}
    assert {line.split(", ")[1].split(" (")[0] for line in lines} == named


LONG_RULES = {"mnist.smk": ["mnist_train", "mnist_eval"],
              "headline.smk": ["headline_train", "headline_validate", "headline_look"],
              "saliency.smk": ["saliency_judge", "saliency_robust_judge", "saliency_extract", "saliency_linear"]}


@pytest.mark.parametrize("smk", sorted(LONG_RULES))
def test_long_rules_say_what_runs_and_where_its_progress_is(smk: str) -> None:
    """Snakemake prints a rule's `message:` when the job starts; each long rule's names its log."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "workflow/rules" / smk).read_text()
    blocks = dict(re.findall(r"\nrule (\w+):\n((?:    .*\n|\n)+?)(?=\n\S|\Z)", text))
    for rule in LONG_RULES[smk]:
        m = re.search(r"    message:\n        \"([^\"]+)\"", blocks[rule])
        assert m is not None, f"rule {rule} has no message"
        assert "{log}" in m.group(1), m.group(1)


def test_sanity_checks_log_each_pass(fake_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    from tradeoff.adversarial.robust_eval import sanity_checks

    model, x, y = _mlp()
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.progress"):
        sanity_checks(model, x, y, norm="linf", eps=0.01, steps=2, batch_size=10, source_model=model)
    lines = [r.getMessage() for r in caplog.records if r.name == "tradeoff.adversarial.progress"]
    heads = [line.split(":")[0] + ":" + line.split(":")[1] for line in lines]
    assert [h for h in dict.fromkeys(heads)] == [
        "sanity check, white-box loss trajectory: PGD linf eps=0.01, 2 steps",
        "sanity check, large eps: PGD linf eps=0.5, 2 steps x 1 restart",
        "sanity check, transfer: PGD linf eps=0.01, 2 steps x 1 restart"]
    assert all("ETA" in line for line in lines) and len(lines) == 9
