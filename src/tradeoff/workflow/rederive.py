"""Re-derive a committed run's claims tables from its committed outcomes, under the current rules.

``python -m tradeoff.workflow.rederive docs/results/cpu --config config/cpu.yaml`` rewrites, in that folder, the
MNIST claims (``mnist/claims.csv``, ``mnist/claims.md`` and the copy ``mnist_claims.csv``) from the
per-example outcomes ``mnist/eval/<recipe>/n~<size>/seed~<seed>.outcomes.npz`` and ``mnist/recipes.csv``;
the saliency claims (``mnist/saliency/claims.{csv,md}``, ``saliency_claims.csv``) from the merged
``alignment.csv`` and ``filters.csv``, the per-model ``panel.csv`` files and the SVMs' ``linear/accuracy.csv``
(with ``--linear-arrays``, the SVMs' per-image outcomes, also ``linear_more_robust``); and the theory
claims (``theory/claims.{csv,md}``) from ``theory/metrics.csv`` and ``theory/frontier.csv``. No model is
trained or evaluated: the verdicts change only where the rules (``docs/CLAIMS.md``) did. A part whose
inputs are missing is skipped (``--only`` picks parts).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tradeoff import io
from tradeoff.claims.verdicts import claims_markdown
from tradeoff.naming import recipe_labels
from tradeoff.stages.mnist_tables import clean_outcomes, mnist_claims, write_claims
from tradeoff.stages.saliency_tables import saliency_claims

__all__ = ["PARTS", "rederive_mnist", "rederive_saliency", "rederive_theory", "superseded_plan"]

PARTS = ("mnist", "saliency", "theory")


def _objectives(recipes: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    rec = recipes.set_index("recipe")
    obj = rec["objective"] if "objective" in rec else pd.Series("standard", rec.index)
    objectives = {str(r): (o if isinstance(o, str) else "standard") for r, o in obj.items()}
    norms = {str(r): n for r, n in rec["norm"].items() if isinstance(n, str)} if "norm" in rec else {}
    return objectives, norms


def rederive_mnist(folder: Path, *, copy_to: Path | None = None) -> pd.DataFrame:
    """``folder``: a run's ``mnist`` folder (``eval/``, ``recipes.csv``); writes ``claims.csv`` and
    ``claims.md`` there (and ``copy_to``, the top-level copy)."""
    paths = sorted(str(p) for p in (folder / "eval").glob("*/n~*/seed~*.outcomes.npz"))
    if not paths:
        raise FileNotFoundError(f"no outcomes files under {folder / 'eval'}")
    recipes = pd.read_csv(folder / "recipes.csv")
    table = mnist_claims(clean_outcomes(paths), recipes)
    write_claims(table, str(folder / "claims.csv"), str(folder / "claims.md"), labels=recipe_labels(recipes))
    if copy_to is not None:
        shutil.copyfile(folder / "claims.csv", copy_to)
    return table


def superseded_plan(stages: Path, recipes: Path) -> pd.DataFrame:
    """The superseded paper-grade plan's MNIST claims (``docs/results/cpu_small_cnn_plan``, in git at
    commit 386f338: its three model stages ran, the chain that judges never did) from its committed outcomes under every stage of
    ``stages`` (``<stage>/eval/<recipe>/n~<size>/seed~<seed>.outcomes.npz``), with the recipes' objective,
    norm and eps from ``recipes`` (the current plan's ``recipes.csv``: ``docs/CLAIMS.md`` 5.3, the same
    names, eps and objectives); written to ``stages/../claims.{csv,md}``."""
    paths = sorted(str(p) for p in stages.glob("*/eval/*/n~*/seed~*.outcomes.npz"))
    if not paths:
        raise FileNotFoundError(f"no outcomes files under {stages}")
    settings = pd.read_csv(recipes)
    table = mnist_claims(clean_outcomes(paths), settings)
    write_claims(table, str(stages.parent / "claims.csv"), str(stages.parent / "claims.md"),
                 labels=recipe_labels(settings))
    return table


def rederive_saliency(folder: Path, recipes: pd.DataFrame, *, linear_arrays: str | None = None,
                      copy_to: Path | None = None) -> pd.DataFrame:
    """``folder``: a run's ``mnist/saliency`` folder; ``recipes``: the run's ``mnist/recipes.csv``."""
    objectives, norms = _objectives(recipes)
    panels = sorted(folder.glob("*/n~*/seed~*/panel.csv"))
    panel = pd.concat([pd.read_csv(p) for p in panels], ignore_index=True) if panels else None
    table = saliency_claims(pd.read_csv(folder / "alignment.csv"), pd.read_csv(folder / "filters.csv"),
                            pd.read_csv(folder / "linear" / "accuracy.csv"), objectives=objectives, norms=norms,
                            panel=panel, linear_arrays=linear_arrays)
    io.write_csv(table, folder / "claims.csv")
    with io.atomic_path(folder / "claims.md") as tmp:
        tmp.write_text(claims_markdown(table, labels=recipe_labels(recipes)))
    if copy_to is not None:
        shutil.copyfile(folder / "claims.csv", copy_to)
    return table


def rederive_theory(folder: Path, *, eps_test: float) -> pd.DataFrame:
    """``folder``: a run's ``theory`` folder (``metrics.csv``, ``frontier.csv``)."""
    from tradeoff.stages.evaluate import claims_stage

    return claims_stage(str(folder / "metrics.csv"), str(folder / "frontier.csv"),
                        {"claims": str(folder / "claims.csv"), "claims_md": str(folder / "claims.md"),
                         "theorem_2_2": str(folder / "theorem_2_2.csv")}, eps_test=eps_test)


def _main(argv: Sequence[str] | None = None) -> int:
    from tradeoff.workflow.config import load_yaml

    ap = argparse.ArgumentParser(prog="python -m tradeoff.workflow.rederive", description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="a committed run's folder, e.g. docs/results/cpu")
    ap.add_argument("--config", required=True, help="the run's config (the theory claims' eps)")
    ap.add_argument("--linear-arrays", help="the SVMs' per-image outcomes (default: the run's "
                    "mnist/saliency/linear/weights.npz where committed)")
    ap.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--superseded", help="also judge a superseded plan's stages folder (e.g. "
                    "docs/results/cpu_small_cnn_plan/stages, checked out from commit 386f338) with this "
                    "run's recipes.csv")
    args = ap.parse_args(argv)
    root = Path(args.results)
    if args.superseded:
        superseded_plan(Path(args.superseded), root / "mnist" / "recipes.csv")
    if "mnist" in args.only:
        rederive_mnist(root / "mnist", copy_to=root / "mnist_claims.csv")
    if "saliency" in args.only and (root / "mnist" / "saliency" / "alignment.csv").is_file():
        committed = root / "mnist" / "saliency" / "linear" / "weights.npz"
        arrays = args.linear_arrays or (str(committed) if committed.is_file() else None)
        rederive_saliency(root / "mnist" / "saliency", pd.read_csv(root / "mnist" / "recipes.csv"),
                          linear_arrays=arrays, copy_to=root / "saliency_claims.csv")
    if "theory" in args.only and (root / "theory" / "metrics.csv").is_file():
        cfg = load_yaml(args.config)
        rederive_theory(root / "theory", eps_test=float(cfg["theory"]["figures"]["bound_eps_test"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
