"""Stage: the masking table (``results/mnist/masking.csv`` and ``.md``; docs/CLAIMS.md 5.8), torch-free:
:func:`tradeoff.claims.masking.write_masking_table` over the per-model records of
:mod:`tradeoff.stages.mnist_masking`."""

from __future__ import annotations

from tradeoff.claims.masking import write_masking_table

__all__ = ["write_masking_table"]
