"""MNIST figures (issue 32): every mean with the recipe level's t-interval over seeds, said in the figure;
Fig. 1's trained sizes as ticks; Fig. 7 one panel per threat model; nine recipes told apart with the
legend outside the curves; frontier labels that do not overlap; one display name per recipe."""

from __future__ import annotations

import itertools
from pathlib import Path

import figure_checks
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text
from scipy import stats as sp

from tradeoff.naming import recipe_label, recipe_labels
from tradeoff.plots import mnist as plots
from tradeoff.stages.mnist_figures import mnist_figure, seed_intervals

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "docs/results/cpu/mnist"  # the committed paper-grade run: 9 recipes, 3 seeds, 5 sizes


@pytest.fixture(scope="module")
def merged() -> pd.DataFrame:
    return pd.read_csv(RUN / "robustness.csv")


@pytest.fixture(scope="module")
def recipes() -> pd.DataFrame:
    return pd.read_csv(RUN / "recipes.csv")


@pytest.fixture(scope="module")
def summary(merged: pd.DataFrame) -> pd.DataFrame:
    return seed_intervals(merged)


def _paths(tmp_path: Path, stem: str) -> list[Path]:
    return [tmp_path / f"{stem}.png", tmp_path / f"{stem}.pdf"]


def _note(fig: Figure) -> str:
    (note,) = [t for t in fig.texts if t.get_gid() == plots.NOTE_GID]
    return note.get_text()


def _drawn(fig: Figure):  # type: ignore[no-untyped-def]
    """The figure drawn once more at its own dpi (the last save left the texts at the PDF's), and the renderer."""
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _vertical_bars(fig: Figure) -> set[tuple[float, float, float]]:
    """(x, low, high) of every vertical error bar drawn."""
    out = set()
    for ax in fig.axes:
        for c in ax.collections:
            if isinstance(c, LineCollection):
                for seg in c.get_segments():
                    if len(seg) == 2 and seg[0][0] == seg[1][0] and seg[0][1] != seg[1][1]:
                        out.add((round(float(seg[0][0]), 9), round(float(min(seg[:, 1])), 9),
                                 round(float(max(seg[:, 1])), 9)))
    return out


def test_seed_intervals_are_the_t_interval_over_seeds(merged: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Checked against scipy.stats.t directly: mean +- t(0.975, k - 1) * sd / sqrt(k)."""
    row = summary[(summary["recipe"] == "standard") & (summary["size"] == 1000) & (summary["attack"] == "clean")]
    acc = merged[(merged["recipe"] == "standard") & (merged["size"] == 1000) & (merged["attack"] == "clean")]
    x = acc["accuracy"].to_numpy()
    assert len(x) == 3 and len(row) == 1
    lo, hi = sp.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sp.sem(x))
    assert row["accuracy_mean"].item() == pytest.approx(x.mean())
    assert row["low"].item() == pytest.approx(lo) and row["high"].item() == pytest.approx(hi)
    assert row["n_seeds"].item() == 3
    # every group, vectorised: the same formula
    g = merged.groupby(["recipe", "size", "attack", "norm", "eps", "steps", "restarts"])["accuracy"]
    half = sp.t.ppf(0.975, g.count() - 1) * g.std(ddof=1) / np.sqrt(g.count())
    s = summary.set_index(["recipe", "size", "attack", "norm", "eps", "steps", "restarts"])
    np.testing.assert_allclose(s.loc[half.index, "high"] - s.loc[half.index, "accuracy_mean"], half, rtol=1e-9)
    # the mean over seeds is the one robustness_summary.csv records
    old = pd.read_csv(RUN / "robustness_summary.csv")
    np.testing.assert_allclose(summary["accuracy_mean"], old["accuracy_mean"], rtol=1e-9)


def test_fewer_than_three_seeds_get_no_interval(merged: pd.DataFrame) -> None:
    two = merged[merged["seed"] < 2]
    s = seed_intervals(two)
    assert (s["n_seeds"] == 2).all() and s["low"].isna().all() and s["high"].isna().all()
    with pytest.raises(ValueError, match="accuracy"):
        seed_intervals(merged.drop(columns="accuracy"))


def test_accuracy_vs_size_ticks_the_trained_sizes_and_draws_the_intervals(summary: pd.DataFrame,
                                                                           recipes: pd.DataFrame,
                                                                           tmp_path: Path) -> None:
    fig = plots.plot_accuracy_vs_size(summary, recipes, _paths(tmp_path, "size"))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert list(ax.get_xticks()) == [1000, 3000, 10000, 27500, 55000]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1,000", "3,000", "10,000", "27,500", "55,000"]
    clean = summary[(summary["attack"] == "clean") & summary["recipe"].isin(["standard", "l2-1.5", "linf-0.3"])]
    want = {(round(float(r["size"]), 9), round(float(r["low"]), 9), round(float(r["high"]), 9))
            for _, r in clean.iterrows()}
    assert _vertical_bars(fig) == want
    assert "95% t-interval" in _note(fig) and "3 seed" in _note(fig)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["standard", "PGD ℓ2 ε=1.5", "PGD ℓ∞ ε=0.3"]
    assert (tmp_path / "size.png").stat().st_size > 1000


def test_accuracy_vs_train_eps_has_one_panel_per_threat_model(summary: pd.DataFrame, recipes: pd.DataFrame,
                                                               tmp_path: Path) -> None:
    fig = plots.plot_accuracy_vs_train_eps(summary, recipes, _paths(tmp_path, "eps"))
    assert len(fig.axes) == 2
    l2, linf = fig.axes
    assert "ℓ2" in l2.get_title() and "ℓ2" in l2.get_xlabel() and "ℓ∞" in linf.get_title()
    assert list(l2.get_xticks()) == [0.0, 0.5, 1.0, 1.5, 2.5]
    assert list(linf.get_xticks()) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert "t-interval" in _note(fig)
    bars = _vertical_bars(fig)
    full = summary[(summary["attack"] == "clean") & (summary["size"] == 55000)].set_index("recipe")
    for recipe, eps in (("standard", 0.0), ("l2-eps-2.5", 2.5), ("linf-0.3", 0.3)):
        r = full.loc[recipe]
        assert (round(eps, 9), round(float(r["low"]), 9), round(float(r["high"]), 9)) in bars
    # a run without PGD recipes (the tests' no-saliency run: standard alone) draws standard at eps 0
    alone = plots.plot_accuracy_vs_train_eps(summary, recipes[recipes["objective"] != "pgd"], _paths(tmp_path, "x"))
    assert len(alone.axes) == 1 and "no PGD-trained recipe" in alone.axes[0].get_title()
    assert list(alone.axes[0].get_xticks()) == [0.0]
    with pytest.raises(ValueError, match="PGD"):
        plots.plot_accuracy_vs_train_eps(summary, recipes[~recipes["objective"].isin(["pgd", "standard"])],
                                         _paths(tmp_path, "y"))


def test_robust_vs_test_eps_tells_nine_recipes_apart_legend_outside(summary: pd.DataFrame, recipes: pd.DataFrame,
                                                                    tmp_path: Path) -> None:
    fig = plots.plot_robust_vs_test_eps(summary, recipes, _paths(tmp_path, "robust"))
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert len(names) == 9 and len(set(names)) == 9
    assert names == [recipe_labels(recipes)[k] for k in ("standard", "l2-eps-0.5", "l2-eps-1", "l2-1.5", "l2-eps-2.5",
                                                        "linf-eps-0.1", "linf-eps-0.2", "linf-0.3", "trades-1")]
    colours = [to_rgb(h.get_color()) for h in legend.legend_handles]
    assert len(set(colours)) == 9
    assert figure_checks.closest_colours(colours) > 10  # CIE76 delta E: no two near-identical colours
    renderer = _drawn(fig)
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        a = ax.get_window_extent(renderer)
        assert box.x0 >= a.x1 or box.x1 <= a.x0 or box.y0 >= a.y1 or box.y1 <= a.y0, "legend over the curves"
    assert "t-interval" in _note(fig)


def test_frontier_labels_do_not_overlap(summary: pd.DataFrame, recipes: pd.DataFrame, tmp_path: Path) -> None:
    fig = plots.plot_frontier(summary, recipes, "linf", 0.3, _paths(tmp_path, "frontier"))
    ax = fig.axes[0]
    renderer = _drawn(fig)
    labels = [t for t in ax.texts if t.get_gid() == plots.FRONTIER_LABEL_GID]
    assert sorted(t.get_text() for t in labels) == sorted(recipe_labels(recipes).values())
    boxes = [Text.get_window_extent(t, renderer) for t in labels]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    frame = ax.get_window_extent(renderer)
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    assert "t-interval" in _note(fig)


def test_frontier_labels_do_not_overlap_when_points_coincide(summary: pd.DataFrame, recipes: pd.DataFrame,
                                                             tmp_path: Path) -> None:
    """Nine recipes drawn on top of one another still get nine separate labels."""
    same = summary.copy()
    for col in ("accuracy_mean", "low", "high"):
        same[col] = np.where(same["attack"] == "clean", 0.98, 0.5)
    fig = plots.plot_frontier(same, recipes, "linf", 0.3, _paths(tmp_path, "stack"))
    renderer = _drawn(fig)
    boxes = [Text.get_window_extent(t, renderer) for t in fig.axes[0].texts
             if t.get_gid() == plots.FRONTIER_LABEL_GID]
    assert len(boxes) == 9
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)


def test_figures_refuse_a_table_without_intervals(recipes: pd.DataFrame, tmp_path: Path) -> None:
    old = pd.read_csv(RUN / "robustness_summary.csv")  # mean and std, no interval
    with pytest.raises(ValueError, match="seed_intervals"):
        plots.plot_accuracy_vs_size(old, recipes, _paths(tmp_path, "x"))
    assert not list(tmp_path.iterdir())


def test_the_stage_draws_each_figure_from_robustness_csv(tmp_path: Path) -> None:
    style = {"context": "paper", "palette": "colorblind", "dpi": 60}
    for kind in ("accuracy_vs_size", "accuracy_vs_train_eps", "robust_vs_test_eps", "frontier"):
        out = tmp_path / f"{kind}.png"
        mnist_figure(str(RUN / "robustness.csv"), str(RUN / "recipes.csv"), [str(out)], kind=kind,
                     frontier={"norm": "linf", "eps": 0.3}, style=style)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_display_name_per_recipe(recipes: pd.DataFrame) -> None:
    labels = recipe_labels(recipes)
    assert labels["linf-0.3"] == "PGD ℓ∞ ε=0.3" and labels["linf-eps-0.2"] == "PGD ℓ∞ ε=0.2"
    assert labels["l2-1.5"] == "PGD ℓ2 ε=1.5" and labels["l2-eps-0.5"] == "PGD ℓ2 ε=0.5"
    assert labels["trades-1"] == "TRADES ℓ∞ ε=0.3 β=1" and labels["standard"] == "standard"
    assert len(set(labels.values())) == len(labels)
    assert recipe_label({"recipe": "odd"}) == "odd"  # no settings: the key
    twin = pd.concat([recipes, recipes[recipes["recipe"] == "linf-0.3"].assign(recipe="linf-0.3-b")])
    both = recipe_labels(twin, ["extra"])
    assert both["linf-0.3"] == "PGD ℓ∞ ε=0.3 (linf-0.3)" and both["linf-0.3-b"] == "PGD ℓ∞ ε=0.3 (linf-0.3-b)"
    assert both["extra"] == "extra"


def test_the_report_caption_names_the_interval() -> None:
    caption = (ROOT / "workflow/report/mnist_figure.rst").read_text()
    assert "95% t-interval" in caption and "fewer than 3 seeds" in caption


def test_tables_show_the_figures_display_names(recipes: pd.DataFrame, tmp_path: Path) -> None:
    """claims.md, its notes and the paper comparison name recipes as the figures do, the key beside."""
    from tradeoff.claims.verdicts import claims_markdown
    from tradeoff.stages.mnist_tables import paper_comparison, rise_notes

    claims = pd.read_csv(RUN / "claims.csv")
    labels = recipe_labels(recipes)
    md = claims_markdown(claims, rise_notes(claims, labels), labels)
    assert "| PGD ℓ∞ ε=0.3 (`linf-0.3`) (n = 55000) |" in md and "| PGD ℓ∞ ε=0.2 (`linf-eps-0.2`) (n = 55000) |" in md
    assert "| l2 PGD recipes (n = 55000) |" in md  # not a recipe: as it is
    assert "At n = 55000, PGD ℓ2 ε=0.5 (`l2-eps-0.5`) (clean accuracy" in md
    assert "| linf-0.3 (n" not in md
    assert "| linf-0.3 (n = 55000) |" in claims_markdown(claims)  # without names: the keys, as before
    paper_comparison(str(RUN / "robustness_summary.csv"), str(tmp_path / "p.csv"), str(tmp_path / "p.md"),
                     compare={"linf-0.3": "madry"}, size=55000, recipes=recipes.to_dict("records"))
    assert "| PGD ℓ∞ ε=0.3 (`linf-0.3`) (55000) |" in (tmp_path / "p.md").read_text()
    assert pd.read_csv(tmp_path / "p.csv")["recipe"].unique().tolist() == ["linf-0.3"]  # CSVs keep the keys


def test_saliency_judge_bars_carry_the_t_interval(tmp_path: Path) -> None:
    from tradeoff.plots.saliency import plot_judge

    table = pd.read_csv(RUN / "saliency/judge.csv")
    fig = plot_judge(table, [tmp_path / "judge.png"])
    ax = fig.axes[0]
    tops = sorted(float(np.nanmax(ln.get_ydata())) for ln in ax.get_lines())  # one line per bar: its interval
    want = []
    for col in ("judged_target", "success_on_model"):
        for _, g in table.groupby("recipe"):
            x = g[col].to_numpy(dtype=float)
            want.append(float(sp.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sp.sem(x))[1]))
    assert tops == pytest.approx(sorted(want))
    assert any("95% t-interval" in t.get_text() for t in ax.texts)


def test_recipe_colours_read_on_white_and_apart(recipes: pd.DataFrame) -> None:
    """Every recipe's colour at least 2.9:1 on white (the old palette's palest, PGD ℓ∞ ε=0.1, was a
    1.6:1 tan that vanished on the page; WCAG asks 3:1 of lines), darker with a larger training eps
    within its family, and no two within delta E 10; an FGSM family gets a hue apart from PGD ℓ∞'s orange."""
    from tradeoff.plots.style import cielab, contrast_on_white

    with_fgsm = pd.concat([recipes, pd.DataFrame([{"recipe": "fast-linf-0.3", "objective": "fgsm", "norm": "linf",
                                                   "eps": 0.3}])], ignore_index=True)
    colours = plots.recipe_palette(with_fgsm)
    assert set(colours) == set(with_fgsm["recipe"])
    assert min(contrast_on_white(c) for c in colours.values()) >= 2.9
    assert figure_checks.closest_colours(list(colours.values())) >= 10
    for family in (["l2-eps-0.5", "l2-eps-1", "l2-1.5", "l2-eps-2.5"], ["linf-eps-0.1", "linf-eps-0.2", "linf-0.3"]):
        lightness = [cielab(colours[k])[0] for k in family]
        assert lightness == sorted(lightness, reverse=True), family
    assert colours["standard"] == (0.0, 0.0, 0.0)
    assert min(np.linalg.norm(np.subtract(cielab(colours["fast-linf-0.3"]), cielab(colours[k])))
               for k in ("linf-eps-0.1", "linf-eps-0.2", "linf-0.3")) > 25


@pytest.mark.parametrize("kind", ["accuracy_vs_size", "accuracy_vs_train_eps", "robust_vs_test_eps", "frontier"])
def test_no_legend_covers_data_or_text(summary: pd.DataFrame, recipes: pd.DataFrame, tmp_path: Path,
                                       kind: str) -> None:
    """Every legend lies clear of every curve, bar and marker, and of every title and label (nine
    recipes, and a one-seed run of three)."""
    draw = {"accuracy_vs_size": plots.plot_accuracy_vs_size, "accuracy_vs_train_eps": plots.plot_accuracy_vs_train_eps,
            "robust_vs_test_eps": plots.plot_robust_vs_test_eps,
            "frontier": lambda s, r, p: plots.plot_frontier(s, r, "linf", 0.3, p)}[kind]
    one_seed = seed_intervals(pd.read_csv(RUN / "robustness.csv").query("seed == 0"))
    for table in (summary, one_seed):
        fig = draw(table, recipes, _paths(tmp_path, kind))
        assert figure_checks.legend_over_data(fig) == []
        assert figure_checks.legend_over_text(fig) == []
    assert "Means over 1 seed;" in _note(fig)


def test_saliency_legends_cover_no_data(tmp_path: Path) -> None:
    """The judge's legend sat on the bars, the alignment figure's on the chance line it names."""
    from tradeoff.plots.saliency import plot_alignment, plot_judge, plot_linear_accuracy

    judge = plot_judge(pd.read_csv(RUN / "saliency/judge.csv"), [tmp_path / "judge.png"])
    scores = ["abs_grad_mask_corr", "energy_on_mask", "cosine_to_centered_image", "mask_area_fraction"]
    rng = np.random.default_rng(0)
    table = pd.DataFrame([{"model": m, "score": s, "value": v} for m in ("standard", "PGD ℓ∞ ε=0.3")
                          for s in scores for v in (rng.uniform(0.25, 0.3, 50) if s == "mask_area_fraction"
                                                    else rng.uniform(0.2, 1.0, 50))])
    alignment = plot_alignment(table, [tmp_path / "alignment.png"])
    assert any(ln.get_label().startswith("chance level") for ax in alignment.axes for ln in ax.get_lines())
    linear = plot_linear_accuracy(pd.DataFrame({"eps_train": np.repeat([0.0, 0.1], 4),
                                                "eps_test": np.tile([0.0, 0.1, 0.2, 0.3], 2),
                                                "accuracy": [0.99, 0.7, 0.3, 0.02, 0.96, 0.9, 0.85, 0.4]}),
                                  [tmp_path / "linear.png"])
    for fig in (judge, alignment, linear):
        assert figure_checks.legends(fig)
        assert figure_checks.legend_over_data(fig) == []
        assert figure_checks.legend_over_text(fig) == []
