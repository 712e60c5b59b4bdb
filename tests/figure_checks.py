"""Checks of what a reader sees in a drawn figure (issue 32: "look at every figure"), shared by the
figure tests: no legend over data, texts that do not overlap, colours told apart."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection, LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from tradeoff.plots.style import cielab


def drawn(fig: Figure) -> RendererBase:
    """The figure drawn once more at its own dpi (a save may have left the texts at another), and its renderer."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _along(points: np.ndarray, step: float = 2.0) -> np.ndarray:
    """Points every ``step`` pixels along a polyline (display coordinates), its vertices included."""
    out = [points[:1]]
    for a, b in itertools.pairwise(points):
        n = max(1, int(math.hypot(*(b - a)) / step))
        out.append(a + (b - a) * (np.arange(1, n + 1)[:, None] / n))
    return np.concatenate(out) if len(points) else points


def _data_points(fig: Figure) -> Iterator[tuple[str, np.ndarray]]:
    """(what, display points) of everything the axes draw as data, inside their axes: lines (sampled
    along their segments), error bars, markers, bars and filled areas (their outlines); grid lines are
    not data."""
    for ax in fig.axes:
        frame = ax.get_window_extent()
        for what, pts in _axes_points(ax):
            keep = ((pts[:, 0] >= frame.x0) & (pts[:, 0] <= frame.x1) & (pts[:, 1] >= frame.y0)
                    & (pts[:, 1] <= frame.y1))
            if keep.any():
                yield what, pts[keep]


def _axes_points(ax: Axes) -> Iterator[tuple[str, np.ndarray]]:
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        xy = np.asarray(line.get_xydata(), dtype=float)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            pts = line.get_transform().transform(xy)
            yield f"line {line.get_label()!r}", (_along(pts) if line.get_linestyle() not in ("None", "none", "")
                                                 else pts)
    for c in ax.collections:
        if not c.get_visible():
            continue
        yield from _collection_points(c)
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_height() and patch.get_width():
            box = patch.get_window_extent()
            yield "bar", _along(np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1],
                                          [box.x0, box.y1], [box.x0, box.y0]]))


def _collection_points(c: Collection) -> Iterator[tuple[str, np.ndarray]]:
    if isinstance(c, LineCollection):
        for seg in c.get_segments():
            if len(seg):
                yield "error bar", _along(c.get_transform().transform(np.asarray(seg, dtype=float)))
    elif isinstance(c, PathCollection) and len(c.get_offsets()):
        yield "marker", c.get_offset_transform().transform(np.asarray(c.get_offsets(), dtype=float))
    else:
        for path in c.get_paths():
            verts = np.asarray(path.vertices, dtype=float)
            if len(verts):
                yield "area", _along(c.get_transform().transform(verts))


def legends(fig: Figure) -> list[Legend]:
    return [*fig.legends, *(lg for ax in fig.axes if (lg := ax.get_legend()) is not None)]


def legend_over_data(fig: Figure) -> list[str]:
    """What each legend of ``fig`` covers: empty when every legend lies clear of every data point."""
    renderer = drawn(fig)
    found = []
    for legend in legends(fig):
        box = legend.get_window_extent(renderer)
        for what, pts in _data_points(fig):
            inside = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
            if inside.any():
                found.append(f"legend over {what} at {pts[inside][0].round(1).tolist()}")
    return found


def overlapping(texts: Iterable[Text], renderer: RendererBase) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts whose boxes overlap."""
    shown = [t for t in texts if t.get_visible() and t.get_text().strip()]
    boxes: list[tuple[str, Bbox]] = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]


def closest_colours(colours: Sequence[Sequence[float]]) -> float:
    """The smallest CIE76 delta E between two of ``colours`` (about 2 is just noticeable)."""
    labs = [cielab(c) for c in colours]
    return min(math.dist(a, b) for a, b in itertools.combinations(labs, 2))


def line_handles(fig: Figure) -> list[Line2D]:
    return [h for lg in legends(fig) for h in lg.legend_handles if isinstance(h, Line2D)]


def legend_over_text(fig: Figure) -> list[str]:
    """The texts (titles, labels, tick labels, notes) that a legend of ``fig`` covers."""
    renderer = drawn(fig)
    found = []
    for legend in legends(fig):
        box = legend.get_window_extent(renderer)
        own = set(map(id, legend.get_texts())) | {id(legend.get_title())}
        for t in fig.findobj(Text):
            if id(t) in own or not t.get_visible() or not t.get_text().strip() or t.figure is None:
                continue
            if any(t is lt for lg in legends(fig) for lt in (*lg.get_texts(), lg.get_title())):
                continue
            if t.get_window_extent(renderer).overlaps(box):
                found.append(t.get_text())
    return found
