"""Stage: the table of training lengths under the stopping rule (``docs/CLAIMS.md`` 4c).

One row per model trained under a recipe's ``stopping:``, read from its ``history.json``: the rule's
metric and images, the cap, the epochs trained, the best epoch (whose weights were written), its
validation score, and why training ended.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tradeoff import io

COLUMNS = ("recipe", "size", "seed", "metric", "metric_n", "cap", "epochs_trained", "best_epoch", "best_score",
           "reason")


def length_table(histories: Sequence[str]) -> pd.DataFrame:
    """The rows of ``histories`` (history.json files), sorted by recipe, size and seed."""
    rows = []
    for path in histories:
        h = io.read_json(path)
        stop = h.get("stopping")
        if not stop:
            raise ValueError(f"{path}: no 'stopping' block (the model was not trained under the stopping rule)")
        rows.append({"recipe": h["recipe"], "size": int(h["size"]), "seed": int(h["seed"]),
                     **{k: stop[k] for k in COLUMNS[3:]}})
    return pd.DataFrame(rows, columns=list(COLUMNS)).sort_values(["recipe", "size", "seed"], ignore_index=True)


def markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n| " + " | ".join("---" for _ in COLUMNS) + " |\n"
    body = "".join("| " + " | ".join(f"{v:.4f}" if c == "best_score" else str(v) for c, v in row.items()) + " |\n"
                   for row in df.to_dict("records"))
    return ("Training length under the stopping rule (docs/CLAIMS.md 4c): every epoch scored on the validation "
            "split; the best epoch's weights kept.\n\n" + head + body)


def write_length_table(histories: Sequence[str], csv_out: str, md_out: str) -> pd.DataFrame:
    df = length_table(histories)
    io.write_csv(df, csv_out)
    with io.atomic_path(md_out) as tmp:
        tmp.write_text(markdown(df))
    return df
