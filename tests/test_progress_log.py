"""Training progress as log lines by the clock (issue 32, item 3): percentage, examples/s, ETA at least
every 30 s, with an injected clock (no sleeping)."""

from __future__ import annotations

import logging

import pytest
from conftest import train_config

from tradeoff.adversarial.progress import ProgressLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_30_s_with_percentage_rate_and_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = logging.getLogger("test-progress")
    p = ProgressLog(1000, log=log, clock=clock)
    lines = []
    with caplog.at_level(logging.INFO, logger="test-progress"):
        for step in range(1, 1001):  # one step of 50 examples every 0.5 s: 100 examples/s
            clock.now += 0.5
            lines.append(p.update(step, 50))
    said = [line for line in lines if line is not None]
    assert len(said) == 16  # 500 s of work, a line every 30 s
    assert [i + 1 for i, line in enumerate(lines) if line is not None][:2] == [60, 120]
    assert said[0] == "training: 6.0% (60/1000 iterations), 100.0 examples/s, ETA 7m50s"
    assert said[-1].startswith("training: 96.0% (960/1000 iterations)") and said[-1].endswith("ETA 20s")
    assert caplog.text.count("training: ") == 16


def test_a_resumed_run_times_only_its_own_work() -> None:
    clock = Clock()
    p = ProgressLog(100, 40, log=logging.getLogger("test-progress"), note=" (at most)", clock=clock)
    clock.now += 29.9
    assert p.update(41, 10) is None  # not yet 30 s
    clock.now += 0.1
    assert p.update(42, 10) == "training: 42.0% (42/100 iterations), 0.7 examples/s, ETA 14m30s (at most)"  # 15 s a step, 58 to go
    clock.now += 30
    assert p.update(42, 0).endswith("ETA 29m00s (at most)")  # 30 s a step now
    with pytest.raises(ValueError, match="0 <= done <= total"):
        ProgressLog(10, 11, log=logging.getLogger("x"))


def test_train_logs_progress_lines(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """train() feeds every optimizer step to a ProgressLog (here due at every step)."""
    import functools

    import torch

    from tradeoff.adversarial import training

    monkeypatch.setattr(training, "ProgressLog", functools.partial(ProgressLog, interval_s=1e-12))
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 28, 28, generator=g), torch.randint(0, 10, (40,), generator=g)
    cfg = train_config(model="mlp", lr=1e-3, batch_size=16, epochs=2, device="cpu")
    with caplog.at_level(logging.INFO, logger="tradeoff.adversarial.training"):
        training.train(cfg, x, y, log=logging.getLogger("tradeoff.adversarial.training"))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("training: ")]
    assert [line.split(" (")[1].split(" ")[0] for line in lines] == [f"{i}/6" for i in range(1, 7)]
    assert lines[-1].startswith("training: 100.0% (6/6 iterations)") and lines[-1].endswith("ETA 0s")
