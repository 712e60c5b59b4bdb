"""Stage: the paper-grade rerun's seed plan from validation runs (:mod:`tradeoff.claims.seed_plan`).

Scores every model of the config on the validation split only and writes
``results/mnist/seed_plan_scores.csv``, ``results/mnist/seed_plan.csv`` and ``.md``.
"""

from __future__ import annotations

from tradeoff.claims.seed_plan import write_seed_plan

__all__ = ["write_seed_plan"]
