"""The figures' shared styling (config's ``plots`` section) and their one atomic writer."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import seaborn as sns
from matplotlib.figure import Figure

from tradeoff.io import atomic_path

PathLike = str | os.PathLike[str]


def apply_style(style: dict[str, Any]) -> None:
    """Seaborn context and palette, and the PNG resolution, from config's ``plots`` section."""
    sns.set_theme(context=style["context"], style="whitegrid", palette=style["palette"])
    matplotlib.rcParams["savefig.dpi"] = style["dpi"]


def save_figure(fig: Figure, paths: Sequence[PathLike]) -> None:
    """Write ``fig`` to every path (format from its suffix) via a temporary file and ``os.replace``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ValueError("no output paths given")
    for path in map(Path, paths):
        fmt = path.suffix.lstrip(".").lower()
        if not fmt:
            raise ValueError(f"output path {path} has no suffix to tell the format")
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fig.savefig(fh, format=fmt, bbox_inches="tight", dpi=_dpi())


def _dpi() -> float:
    """PNG resolution: matplotlib's ``savefig.dpi`` when the caller set a number (config ``plots.dpi``)."""
    dpi = matplotlib.rcParams["savefig.dpi"]
    return float(dpi) if isinstance(dpi, (int, float)) else 150.0
