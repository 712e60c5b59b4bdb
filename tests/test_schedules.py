"""Learning-rate schedules: each schedule's lr at chosen steps, against hand computation and
Wong et al.'s own formula (np.interp of the run's progress)."""

from __future__ import annotations

import numpy as np
import pytest

from tradeoff.adversarial.schedules import check_schedule, lr_at


def test_constant() -> None:
    assert [lr_at({"kind": "constant"}, 0.01, s, 10) for s in (0, 5, 9)] == [0.01] * 3
    assert lr_at({}, 0.01, 3, 10) == 0.01  # constant is the default kind


def test_cyclic_is_wong_et_al_triangle() -> None:
    total, lr = 5500, 5e-3  # 10 epochs of 550 batches of 100 (55,000 images)
    sched = {"kind": "cyclic", "peak_at": 0.4}
    for step in (0, 1, 549, 2199, 2200, 4000, 5499):
        epoch, i = divmod(step, 550)
        wong = float(np.interp([epoch + (i + 1) / 550], [0, 10 * 2 // 5, 10], [0, lr, 0])[0])
        assert lr_at(sched, lr, step, total) == pytest.approx(wong, rel=1e-12, abs=1e-15)
    assert lr_at(sched, lr, 2199, total) == pytest.approx(lr)  # the peak, after step 2,200 of 5,500
    assert lr_at(sched, lr, 5499, total) == 0.0  # back to zero at the end
    assert lr_at(sched, 1.0, 0, 10) == pytest.approx(0.25)  # (1/10) / 0.4


def test_piecewise_steps_down_at_milestones() -> None:
    sched = {"kind": "piecewise", "milestones": [0.5, 0.75], "factors": [0.1, 0.01]}
    lrs = [lr_at(sched, 1.0, s, 8) for s in range(8)]
    assert lrs == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01])


@pytest.mark.parametrize(("schedule", "message"), [
    ({"kind": "cosine"}, "lr_schedule.kind"),
    ({"kind": "cyclic", "peak_at": 1.0}, "peak_at"),
    ({"kind": "constant", "peak_at": 0.5}, "unknown keys"),
    ({"kind": "piecewise", "milestones": [0.5], "factors": []}, "as many factors"),
    ({"kind": "piecewise", "milestones": [0.7, 0.5], "factors": [0.1, 0.1]}, "increasing"),
    ({"kind": "piecewise", "milestones": [0.5], "factors": [0.0]}, "factors"),
])
def test_bad_schedules_name_the_key(schedule: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_schedule(schedule)


def test_step_outside_the_run() -> None:
    with pytest.raises(ValueError, match="outside a run"):
        lr_at({"kind": "constant"}, 0.1, 10, 10)
