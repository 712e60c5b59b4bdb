"""Learning-rate schedules, as a function of the optimiser step: one place, both training engines.

A schedule is a mapping with ``kind`` and its keys; positions are *fractions of the run* (of its
total optimiser steps), so one schedule means the same on 1,000 or 55,000 images:

* ``{"kind": "constant"}``: the recipe's ``lr`` throughout (the default).
* ``{"kind": "cyclic", "peak_at": 0.4}``: Wong, Rice and Kolter (2020)'s triangle: from 0 up to
  ``lr`` at ``peak_at`` of the run, then down to 0 at its end. Their MNIST code evaluates
  ``np.interp(t, [0, 2/5 E, E], [0, lr_max, 0])`` at ``t = epoch + (i + 1) / batches``, i.e. after
  the step; :func:`lr_at` does the same with ``t = (step + 1) / total``.
* ``{"kind": "piecewise", "milestones": [0.5, 0.75], "factors": [0.1, 0.01]}``: ``lr`` until the first
  milestone, then ``lr * factors[i]`` from milestone ``i`` on (step functions as in Madry et al.'s
  and TRADES' CIFAR recipes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SCHEDULES", "check_schedule", "lr_at"]

SCHEDULES: tuple[str, ...] = ("constant", "cyclic", "piecewise")
_KEYS = {"constant": {"kind"}, "cyclic": {"kind", "peak_at"}, "piecewise": {"kind", "milestones", "factors"}}


def check_schedule(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a schedule and fill its defaults; ``ValueError`` naming the key that is wrong."""
    kind = schedule.get("kind", "constant")
    if kind not in SCHEDULES:
        raise ValueError(f"lr_schedule.kind: {kind!r} is not one of {', '.join(SCHEDULES)}")
    extra = sorted(set(schedule) - _KEYS[kind])
    if extra:
        raise ValueError(f"lr_schedule: unknown keys {extra} for kind {kind!r}")
    out: dict[str, Any] = {"kind": kind}
    if kind == "cyclic":
        peak = float(schedule.get("peak_at", 0.4))
        if not 0.0 < peak < 1.0:
            raise ValueError(f"lr_schedule.peak_at: must lie in (0, 1), got {peak}")
        out["peak_at"] = peak
    elif kind == "piecewise":
        milestones = [float(m) for m in schedule.get("milestones", [])]
        factors = [float(f) for f in schedule.get("factors", [])]
        if not milestones or len(milestones) != len(factors):
            raise ValueError("lr_schedule: piecewise needs as many factors as milestones (at least one)")
        if any(not 0.0 < m < 1.0 for m in milestones) or milestones != sorted(set(milestones)):
            raise ValueError(f"lr_schedule.milestones: increasing fractions in (0, 1), got {milestones}")
        if any(not f > 0.0 for f in factors):
            raise ValueError(f"lr_schedule.factors: must be > 0, got {factors}")
        out.update(milestones=milestones, factors=factors)
    return out


def lr_at(schedule: Mapping[str, Any], lr: float, step: int, total: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of a run of ``total`` steps."""
    if not 0 <= step < total:
        raise ValueError(f"step {step} outside a run of {total} steps")
    s = check_schedule(schedule)
    if s["kind"] == "constant":
        return lr
    t = (step + 1) / total  # the run's progress after this step, as Wong et al. evaluate it
    if s["kind"] == "cyclic":
        peak = s["peak_at"]
        return lr * (t / peak if t <= peak else (1.0 - t) / (1.0 - peak))
    factor = 1.0
    for milestone, f in zip(s["milestones"], s["factors"], strict=True):
        if step / total >= milestone:  # from the first step at or after the milestone
            factor = f
    return lr * factor
