"""This run's verdicts beside the committed paper-grade ones: matched, flagged, never forced."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

from tradeoff.claims.verdicts import beside_reference
from tradeoff.stages.claims_reference import write_beside
from tradeoff.workflow.config import load_yaml, validate_config
from tradeoff.workflow.plan import reference_claims, reference_dir, reference_files

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _rows(*rows: tuple[str, str, str, float, str]) -> pd.DataFrame:
    return pd.DataFrame([{"claim": c, "paper": "Fig. 1", "metric": m, "recipe": r, "size": n, "verdict": v,
                          "reason": ""} for c, m, r, n, v in rows])


OURS = _rows(
    ("hurts", "clean accuracy at n = 4000", "linf-0.3", 4000, "holds"),
    ("hurts", "clean accuracy at n = 4000", "l2-1.5", 4000, "does not hold"),
    ("lose", "clean accuracy, linf PGD at eps 0.3", "linf-0.3", 500, "inconclusive"),
    ("align", "energy", "linf-0.3", 2000, "holds"),
)
REFERENCE = _rows(
    ("hurts", "clean accuracy at n = 55000", "linf-0.3", 55000, "holds"),  # another size: the same claim
    ("hurts", "clean accuracy at n = 55000", "l2-1.5", 55000, "holds"),
    ("lose", "clean accuracy, linf PGD at eps 0.3", "linf-0.3", 1000, "holds"),
    ("lose", "clean accuracy, linf PGD at eps 0.3", "linf-0.3", 55000, "inconclusive"),
)


def test_verdicts_are_matched_by_claim_recipe_and_metric_and_disagreements_flagged() -> None:
    out = beside_reference(OURS, REFERENCE)
    assert list(out["verdict"]) == list(OURS["verdict"])  # ours unchanged
    assert list(out["paper_grade"]) == ["holds", "holds", "mixed: holds at n = 1000; inconclusive at n = 55000",
                                        "none"]
    assert list(out["agreement"]) == ["agrees", "DISAGREES", "agrees at some sizes", "no paper-grade verdict"]
    none = beside_reference(OURS, None)
    assert set(none["agreement"]) == {"no paper-grade verdict"}


def test_stage_writes_csv_and_markdown_and_tolerates_a_missing_reference(tmp_path: Path) -> None:
    ours = tmp_path / "claims.csv"
    OURS.to_csv(ours, index=False)
    ref = tmp_path / "ref"
    ref.mkdir()
    REFERENCE.to_csv(ref / "mnist_claims.csv", index=False)  # no saliency_claims.csv committed
    out = write_beside({"MNIST claims": str(ours), "Saliency claims": str(ours)}, str(ref),
                       str(tmp_path / "b.csv"), str(tmp_path / "b.md"))
    assert list(out["table"]) == ["MNIST claims"] * 4 + ["Saliency claims"] * 4
    assert set(out.loc[out["table"] == "Saliency claims", "agreement"]) == {"no paper-grade verdict"}
    md = (tmp_path / "b.md").read_text()
    assert "### MNIST claims (1 disagreement(s)" in md and "| **DISAGREES** |" in md
    assert pd.read_csv(tmp_path / "b.csv").shape == out.shape


def test_the_default_config_sets_its_claims_beside_the_committed_cpu_run(tmp_path: Path) -> None:
    default = validate_config(load_yaml(REPO / "config" / "config.yaml"), SCHEMA)
    assert default["reference_results"] == "docs/results/cpu"
    assert reference_claims(default) == {"MNIST claims": "results/mnist/claims.csv",
                                         "Saliency claims": "results/mnist/saliency/claims.csv"}
    # only committed files are inputs: here a folder holding the MNIST table and no saliency one
    (tmp_path / "mnist_claims.csv").write_text("claim,recipe,metric,size,verdict\n")
    assert reference_files({**default, "reference_results": str(tmp_path)}) == [str(tmp_path / "mnist_claims.csv")]
    tiny = validate_config(load_yaml(REPO / "tests" / "config" / "tiny.yaml"), SCHEMA)
    assert reference_claims(tiny) == {}


def test_the_rule_reads_the_reference_folder_from_its_inputs(tmp_path: Path) -> None:
    """The rule's `reference` param is the folder of its inputs (so `snakemake --lint` finds no
    hard-coded prefix of them), and the configured folder when nothing is committed there."""
    default = validate_config(load_yaml(REPO / "config" / "config.yaml"), SCHEMA)
    committed = reference_files(default)
    assert committed, "the paper-grade claims tables are committed in docs/results/cpu"
    assert reference_dir(default, committed) == "docs/results/cpu"
    assert reference_dir({**default, "reference_results": str(tmp_path)}, []) == str(tmp_path)
    with pytest.raises(ValueError, match="more than one folder"):
        reference_dir(default, ["a/mnist_claims.csv", "b/saliency_claims.csv"])


def test_levels_are_matched_and_untestable_rows_are_not_compared() -> None:
    ours = _rows(("hurts", "clean accuracy at n = 4000", "linf-0.3", 4000, "holds"),
                 ("hurts", "clean accuracy at n = 4000", "linf-0.3", 4000, "not testable (1 seed)"))
    ours["level"] = ["models", "recipe"]
    ref = _rows(("hurts", "clean accuracy at n = 55000", "linf-0.3", 55000, "holds"),
                ("hurts", "clean accuracy at n = 55000", "linf-0.3", 55000, "inconclusive"))
    ref["level"] = ["models", "recipe"]
    out = beside_reference(ours, ref)
    assert out["paper_grade"].tolist() == ["holds", "inconclusive"]  # each level against its own level
    assert out["agreement"].tolist() == ["agrees", "not compared (this run: not testable (1 seed))"]


def test_the_beside_table_names_recipes_as_the_figures_do(tmp_path: Path) -> None:
    """Issue 32: the report's table beside the paper-grade run named recipes by their keys (`linf-0.3`),
    the figures and the other claims tables by what they are (PGD ℓ∞ ε=0.3); the CSV keeps the keys."""
    ours = tmp_path / "claims.csv"
    OURS.to_csv(ours, index=False)
    recipes = [{"recipe": "linf-0.3", "objective": "pgd", "norm": "linf", "eps": 0.3},
               {"recipe": "l2-1.5", "objective": "pgd", "norm": "l2", "eps": 1.5}]
    out = write_beside({"MNIST claims": str(ours)}, str(tmp_path), str(tmp_path / "b.csv"), str(tmp_path / "b.md"),
                       recipes=recipes)
    md = (tmp_path / "b.md").read_text()
    assert "| PGD ℓ∞ ε=0.3 (`linf-0.3`) (n = 4000) |" in md and "| PGD ℓ2 ε=1.5 (`l2-1.5`) (n = 4000) |" in md
    assert "| linf-0.3 (n" not in md
    assert set(pd.read_csv(tmp_path / "b.csv")["recipe"]) == {"linf-0.3", "l2-1.5"} == set(out["recipe"])
    write_beside({"MNIST claims": str(ours)}, str(tmp_path), str(tmp_path / "k.csv"), str(tmp_path / "k.md"))
    assert "| linf-0.3 (n = 4000) |" in (tmp_path / "k.md").read_text()  # without the recipes: the keys
