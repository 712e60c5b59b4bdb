"""Stage: this run's claims beside the committed paper-grade verdicts (``config/cpu.yaml``'s run).

The default run decides the paper's MNIST claims on small models in minutes; the paper-grade CPU
run decides them with 3 seeds and 5 sizes, and its claims tables are committed
(``reference_results``, e.g. ``docs/results/cpu/``: ``mnist_claims.csv``, ``saliency_claims.csv``).
This stage sets each of this run's verdicts beside the paper-grade one and flags disagreements
(:func:`tradeoff.claims.verdicts.beside_reference`); it never changes a verdict. A missing reference file
(no paper-grade run committed yet) leaves ``no paper-grade verdict`` on every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tradeoff import io
from tradeoff.claims.verdicts import beside_reference, beside_reference_markdown
from tradeoff.naming import recipe_labels

#: this run's claims table (title) -> the committed reference file name in ``reference_results``
REFERENCE_FILES = {"MNIST claims": "mnist_claims.csv", "Saliency claims": "saliency_claims.csv"}


def reference_files(folder: str | None, titles: list[str]) -> list[str]:
    """The committed reference tables that exist, for the tables of ``titles``."""
    if not folder:
        return []
    return [str(Path(folder) / REFERENCE_FILES[t]) for t in titles if (Path(folder) / REFERENCE_FILES[t]).is_file()]


def write_beside(ours: Mapping[str, str], reference_dir: str, out_csv: str, out_md: str,
                 recipes: Sequence[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """For each (title, claims CSV) of ``ours``: its rows beside the reference's; one CSV (a ``table``
    column names the title) and one Markdown file. ``recipes``: the MNIST recipes' settings (rows of
    ``recipes.csv``): the Markdown names recipes as the figures do (:func:`tradeoff.naming.recipe_labels`),
    the key beside; without them, by their keys. The CSV keeps the keys."""
    tables = {}
    for title, path in ours.items():
        ref_path = Path(reference_dir) / REFERENCE_FILES[title]
        reference = pd.read_csv(ref_path) if ref_path.is_file() else None
        tables[title] = beside_reference(pd.read_csv(path), reference)
    combined = pd.concat([t.assign(table=title) for title, t in tables.items()], ignore_index=True)
    io.write_csv(combined, out_csv)
    with io.atomic_path(out_md) as tmp:
        labels = recipe_labels(pd.DataFrame(list(recipes))) if recipes else None
        tmp.write_text(beside_reference_markdown(tables, reference_dir, labels))
    return combined
