"""The figures' shared styling (config's ``plots`` section) and their one atomic writer."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from tradeoff.claims import stats
from tradeoff.io import atomic_path

PathLike = str | os.PathLike[str]

SEED_INTERVAL_TEXT = "95% t-interval of the mean over seeds (none below 3 seeds)"
"""What :func:`seed_interval`'s bars are, in words (figures' legends and captions)."""


def seed_interval(values: Any) -> tuple[float, float]:
    """The recipe level's interval of ``docs/CLAIMS.md`` for a mean over seeds: the 95% t-interval
    of :func:`tradeoff.claims.stats.t_test` (k - 1 degrees of freedom); (NaN, NaN), drawn as no bar, below
    :data:`tradeoff.claims.stats.RECIPE_MIN_SEEDS` values. Usable as seaborn's ``errorbar=``."""
    test = stats.t_test(np.asarray(values, dtype=np.float64))
    if test.interval is None:
        return float("nan"), float("nan")
    return test.interval(stats.LEVEL)


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


def cielab(rgb: Sequence[float]) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour with channels in [0, 1]: L* is the lightness a reader sees
    (0 black, 100 white), and the distance between two colours' L*a*b* (CIE76 delta E) how far apart
    they look (about 2 is just noticeable)."""
    c = np.asarray(rgb[:3], dtype=np.float64)
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return (float(116.0 * f[1] - 16.0), float(500.0 * (f[0] - f[1])), float(200.0 * (f[1] - f[2])))


def contrast_on_white(rgb: Sequence[float]) -> float:
    """WCAG contrast ratio of a colour against a white background (1: invisible, 21: black)."""
    c = np.asarray(rgb[:3], dtype=np.float64)
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return 1.05 / (float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) + 0.05)
