"""The claims tables as HTML for the Snakemake report, which shows a ``.md`` file as raw text.

The pipeline's Markdown is its own and plain (:func:`tradeoff.claims.verdicts.claims_markdown` and the
theory, saliency, paper-comparison and reference tables): pipe tables, ``#`` headings, ``- `` bullet
lines, paragraphs, and inline ``*emphasis*``, ``**strong**`` and ```code```. :func:`markdown_html`
renders exactly that subset (no other Markdown is written here; the venv has no Markdown library)
into one self-contained HTML page with every character escaped; :func:`write_html` does it file to
file, atomically. The ``.md`` stays the table of record; the ``.html`` is its view in the report.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from tradeoff import io

__all__ = ["STYLE", "markdown_html", "write_html"]

STYLE: Final = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #eee; position: sticky; top: 0; }
tr:nth-child(even) td { background: #f8f8f8; }
code { font-size: 12px; white-space: nowrap; }
td:last-child { min-width: 9em; }
"""
# (looked at, rendered: a recipe key in a code span broke at its hyphen, "l2-" over "1.5", and the last
# column, the agreement, squeezed to one word a line)

_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def _inline(text: str) -> str:
    """Escape, then ``code``, **strong**, *em* (code spans are left alone inside)."""
    out = []
    for i, part in enumerate(re.split(r"(`[^`]*`)", text)):
        if i % 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part)
        s = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)


def _cells(line: str) -> list[str]:
    """A row's cells. The pipeline's writers join cells with `` | `` and leave a ``|`` inside a cell
    unescaped (``|accuracy - p|``, ``||w||_1``), so only an unescaped pipe with white space on both
    sides separates cells."""
    body = " " + line.strip() + " "
    if body.startswith(" |"):
        body = " " + body[2:]
    if body.endswith("| ") and not body.endswith("\\| "):
        body = body[:-2] + " "
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<=\s)(?<!\\)\|(?=\s)", body)]


def _table(lines: Sequence[str]) -> str:
    head, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    width = len(head)
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"table row {i + 1} has {len(r)} cells, its header {width}: {lines[2 + i]!r}")
    th = "".join(f"<th>{_inline(c)}</th>" for c in head)
    body = "\n".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<thead><tr>{th}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def markdown_html(text: str, title: str) -> str:
    """One HTML page of the pipeline's Markdown ``text`` (see the module docstring), titled ``title``.
    A table whose rows do not all have the header's number of cells raises ``ValueError``."""
    lines = text.splitlines()
    parts: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1].strip()):
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            parts.append(_table(lines[i:j]))
            i = j
        elif m := re.match(r"^(#{1,6})\s+(.*)$", line):
            level = len(m.group(1))
            parts.append(f"<h{level}>{_inline(m.group(2).strip())}</h{level}>")
            i += 1
        elif re.match(r"^\s*[-*]\s+", line):
            items = []
            while i < len(lines) and re.match(r"^\s*[-*]\s+", lines[i]):
                item = re.sub(r"^\s*[-*]\s+", "", lines[i])
                i += 1
                while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():  # continuation
                    item += " " + lines[i].strip()
                    i += 1
                items.append(f"<li>{_inline(item)}</li>")
            parts.append("<ul>\n" + "\n".join(items) + "\n</ul>")
        else:
            para = []
            while (i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith(("|", "#"))
                   and not re.match(r"^\s*[-*]\s+", lines[i])):
                para.append(lines[i].strip())
                i += 1
            parts.append(f"<p>{_inline(' '.join(para))}</p>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def write_html(md: str | Path, out: str | Path, title: str | None = None) -> None:
    """Render the Markdown file ``md`` to the HTML file ``out`` (atomically); ``title``: default the
    Markdown file's name."""
    page = markdown_html(Path(md).read_text(encoding="utf-8"), title or Path(md).name)
    io.write_bytes(page.encode("utf-8"), str(out))
