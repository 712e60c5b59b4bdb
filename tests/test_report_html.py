"""The report's claims tables render as tables (issue 32): the Markdown the pipeline writes, as HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from tradeoff.claims.verdicts import claims_markdown
from tradeoff.workflow.report_html import markdown_html, write_html

ROOT = Path(__file__).resolve().parents[1]


class Cells(HTMLParser):
    """Every table's rows as lists of cell texts, and the tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> Cells:
    p = Cells()
    p.feed(page)
    return p


def test_the_mnist_claims_table_renders_cell_for_cell() -> None:
    table = pd.read_csv(ROOT / "docs/results/cpu/mnist/claims.csv")
    md = claims_markdown(table, ["a note with *emphasis* and `code`"])
    page = markdown_html(md, "MNIST claims")
    p = _parse(page)
    (rows,) = p.tables
    md_rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len(rows) == len(md_rows) - 1 == len(table) + 1  # the separator line is no row
    assert rows[0][:4] == ["claim (paper)", "metric", "robust model", "level"]
    assert all(len(r) == len(rows[0]) for r in rows)
    assert rows[1][-4] == "-0.00541351, -0.00375405, -0.0036" and rows[1][-5] == "inconclusive"
    assert "<em>inconclusive</em>" in page and "<li>a note with <em>emphasis</em> and <code>code</code></li>" in page
    assert not re.search(r"^\|", page, re.M)  # no raw Markdown table line left


def test_pipes_inside_cells_and_html_characters() -> None:
    md = ("| claim | value |\n| --- | --- |\n| robust <= p/(1-p) | eps ||w||_1 and |accuracy - p| |\n"
          "| a & b | \\| escaped |\n")
    (rows,) = _parse(markdown_html(md, "t")).tables
    assert rows == [["claim", "value"], ["robust <= p/(1-p)", "eps ||w||_1 and |accuracy - p|"],
                    ["a & b", "| escaped"]]
    page = markdown_html(md, "t <x>")
    assert "robust &lt;= p/(1-p)" in page and "<title>t &lt;x&gt;</title>" in page


@pytest.mark.parametrize("path", ["docs/results/cpu/theory/claims.md", "docs/results/cpu/mnist/saliency/claims.md",
                                  "docs/results/claims_beside_paper_grade.md",
                                  "docs/results/cpu/mnist/paper_comparison.md"])
def test_every_committed_claims_table_renders(path: str, tmp_path: Path) -> None:
    md = (ROOT / path).read_text()
    out = tmp_path / "t.html"
    write_html(ROOT / path, out)
    p = _parse(out.read_text())
    n_tables = sum(1 for a, b in zip(md.splitlines(), md.splitlines()[1:], strict=False)
                   if a.startswith("|") and b.startswith("| ---"))
    assert len(p.tables) == n_tables >= 1
    assert sum(len(t) for t in p.tables) == sum(1 for line in md.splitlines()
                                                if line.startswith("|") and not line.startswith("| ---"))


def test_a_ragged_table_is_refused() -> None:
    with pytest.raises(ValueError, match="row 1 has 3 cells, its header 2"):
        markdown_html("| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n", "t")


def test_the_report_shows_the_html_not_the_markdown() -> None:
    """Every report(...) item of the workflow that is a table of claims is the .html beside the .md."""
    items = []
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        items += re.findall(r"report\(\s*\"([^\"]+)\"", smk.read_text())
    assert not [i for i in items if "claims" in i and i.endswith(".md")], items
    for name in ("results/mnist/claims.html", "results/theory/claims.html", "results/mnist/saliency/claims.html",
                 "results/claims_beside_paper_grade.html", "results/mnist/paper_comparison.html"):
        assert name in items
