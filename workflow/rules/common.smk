# Helpers shared by the workflow's stage files: config validation, the job grid, params, code hashes.
import re
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))

from tradeoff.config import (  # noqa: E402
    ConfigError,
    DataPoint,
    all_fits,
    attack_grid,
    mnist_models,
    mnist_recipes,
    saliency_models,
    fmt,
    sweep_axis,
    sweep_fits,
    sweep_points,
    sweep_test_norms,
    validate_config,
)
from tradeoff.provenance import code_hash, report_safe_json  # noqa: E402

try:
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None

THEORY = config["theory"]
SWEEPS = sorted(THEORY["sweeps"])

# Content hashes of the package modules each stage imports (transitively): editing one re-runs
# exactly the rules whose stage uses it (they reach the rules as params).
CODE = {
    "sample": code_hash("tradeoff.stages.sample"),
    "fit": code_hash("tradeoff.stages.fit"),
    "evaluate": code_hash("tradeoff.stages.evaluate"),
    "figures": code_hash("tradeoff.stages.figures"),
    "mnist_data": code_hash("tradeoff.stages.mnist_data"),
    "mnist_train": code_hash("tradeoff.stages.mnist_train"),
    "mnist_eval": code_hash("tradeoff.stages.mnist_eval"),
    "mnist_tables": code_hash("tradeoff.stages.mnist_tables"),
    "mnist_figures": code_hash("tradeoff.stages.mnist_figures"),
    "saliency": code_hash("tradeoff.stages.saliency"),
    "saliency_linear": code_hash("tradeoff.stages.saliency_linear"),
    "saliency_tables": code_hash("tradeoff.stages.saliency_tables"),
    "saliency_figures": code_hash("tradeoff.stages.saliency_figures"),
    "provenance": code_hash("tradeoff.stages.provenance"),
}
MNIST = config.get("mnist")
RECIPES = mnist_recipes(config) if MNIST else {}
SALIENCY = config.get("saliency")
SALIENCY_FIGURES = [
    "gradients",
    "alignment",
    "large_eps",
    "interpolation",
    "filters",
    "judge",
    "linear_weights",
    "linear_accuracy",
]


wildcard_constraints:
    p=r"[0-9.]+",
    d=r"[0-9]+",
    eta=r"[0-9.]+",
    n=r"[0-9]+",
    m=r"[0-9]+",
    C=r"[0-9.e-]+",
    model=r"svm|(linf|l2)_eps~[0-9.]+",
    sweep="|".join(SWEEPS),
    recipe="|".join(re.escape(r) for r in sorted(RECIPES)) or "$^",
    size=r"[0-9]+",
    seed=r"[0-9]+",


def final_outputs():
    """Everything `snakemake` builds by default."""
    return stage_outputs() + ["results/provenance.json"]


def stage_outputs():
    """The results of every configured stage (the mnist and saliency sections are optional)."""
    return (
        theory_outputs()
        + (mnist_outputs() if MNIST else [])
        + (saliency_outputs() if SALIENCY else [])
    )


def final_tables():
    """The tables the provenance manifest hashes."""
    return [f for f in stage_outputs() if f.endswith((".csv", ".md"))]


def theory_outputs():
    """The theory stage's results: its merged table and figures (target: `snakemake theory`)."""
    return theory_figures() + ["results/theory/metrics.csv"]


def theory_figures():
    figs = THEORY["figures"]
    names = ["theory_bound", "theory_eps_train", "theory_weight_share", "theory_closed_form"]
    names += [f"theory_sweep_{s}" for s in figs["axis_sweeps"]]
    return [f"results/figures/{n}.{ext}" for n in names for ext in ("png", "pdf")]


def canonical(value):
    """Dicts with sorted keys, all the way down: Snakemake compares params by their text, so key
    order (which YAML round trips change) must not count as a change."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def point_params(wildcards):
    """The data point of a job, parsed from its wildcards."""
    pt = DataPoint.from_wildcards(wildcards.p, wildcards.d, wildcards.eta, wildcards.n, wildcards.m)
    return canonical(
        {
            "slug": pt.slug,
            "p": pt.p,
            "d": pt.d,
            "eta": pt.eta,
            "n_train": pt.n_train,
            "n_test": pt.n_test,
        }
    )


def fit_params(wildcards):
    """Everything a fit depends on besides its input sample."""
    pt = point_params(wildcards)
    if wildcards.model == "svm":
        norm, eps = "none", 0.0
    else:
        norm, eps = wildcards.model.split("_eps~")
        eps = float(eps)
    return canonical(
        {
            "slug": pt["slug"],
            "p": pt["p"],
            "d": pt["d"],
            "eta": pt["eta"],
            "C": float(wildcards.C),
            "norm": norm,
            "eps_train": eps,
            "tol": float(THEORY["solver"]["tol"]),
            "max_iter": int(THEORY["solver"]["max_iter"]),
            "seeds": list(THEORY["seeds"]),
        }
    )


def sweep_samples(wildcards):
    return [f"results/theory/samples/{pt.slug}.npz" for pt in sweep_points(config, wildcards.sweep)]


def sweep_fit_files(wildcards):
    return [f.path for f in sweep_fits(config, wildcards.sweep)]


def evaluate_params(wildcards):
    return canonical(
        {
            "sweep": wildcards.sweep,
            "eps_test": list(THEORY["eps_test"]),
            "test_norms": sweep_test_norms(config, wildcards.sweep),
            "seeds": list(THEORY["seeds"]),
        }
    )


def axis_of_sweep(wildcards):
    return sweep_axis(config, wildcards.sweep)


def tradeoff_metrics():
    return f"results/theory/metrics/{THEORY['figures']['tradeoff_sweep']}.csv"


def plot_style():
    """Figure styling: changing it re-runs only the figures."""
    return canonical(config["plots"])


# ---------------------------------------------------------------------------------------------------
# MNIST


def mnist_outputs():
    """The MNIST stage's results: tables and figures (target: `snakemake mnist`)."""
    tables = [
        "results/mnist/robustness.csv",
        "results/mnist/robustness_summary.csv",
        "results/mnist/sanity.csv",
        "results/mnist/paper_comparison.csv",
        "results/mnist/paper_comparison.md",
        "results/mnist/claims.csv",
        "results/mnist/claims.md",
    ]
    kinds = ["robust_vs_test_eps", "frontier", "accuracy_vs_train_eps"]
    if any(len({n for r, n, s in mnist_models(config) if r == rec}) > 1 for rec in RECIPES):
        kinds.append("accuracy_vs_size")
    return tables + [f"results/figures/mnist_{k}.{ext}" for k in kinds for ext in ("png", "pdf")]


def mnist_data_params():
    data = MNIST["data"]
    return canonical(
        {
            "source": data["source"],
            "path": data.get("path"),
            "cache_dir": data.get("cache_dir", "resources/mnist"),
            "test_fraction": float(data.get("test_fraction", 0.2)),
            "split_seed": int(data.get("split_seed", 0)),
        }
    )


def mnist_runtime():
    """Device and precision: they change numbers, so they are params (and recorded in outputs)."""
    return canonical({"device": MNIST["device"], "precision": MNIST["precision"]})


def mnist_gpus():
    return 0 if MNIST["device"] == "cpu" else 1


def recipe_params(wildcards):
    return canonical(RECIPES[wildcards.recipe])


def transfer_source(wildcards):
    source = MNIST["evaluation"]["sanity"]["source_recipe"]
    return f"results/mnist/models/{source}/n~{wildcards.size}/seed~{wildcards.seed}/weights.safetensors"


def mnist_eval_params():
    ev = MNIST["evaluation"]
    return canonical(
        {
            "grid": attack_grid(config),
            "n": ev["n"],
            "batch_size": ev["batch_size"],
            "eval_seed": ev["seed"],
            "sanity_spec": canonical(ev["sanity"]),
        }
    )


def mnist_eval_files(suffix):
    return [f"results/mnist/eval/{r}/n~{n}/seed~{s}.{suffix}" for r, n, s in mnist_models(config)]


def mnist_recipe_table():
    return [canonical({"recipe": name, **RECIPES[name]}) for name in sorted(RECIPES)]


def mnist_compare():
    """Recipe -> published model it is compared with, and the training-set size compared."""
    models = mnist_models(config)
    return canonical(
        {
            "compare": canonical(MNIST.get("compare", {})),
            "size": max(n for _, n, _ in models),
        }
    )


def mnist_frontier():
    sanity = MNIST["evaluation"]["sanity"]
    return canonical({"norm": sanity["norm"], "eps": float(sanity["eps"])})


# ---------------------------------------------------------------------------------------------------
# Saliency (paper Section 4)


def saliency_outputs():
    """The saliency stage's results: tables and figures (target: `snakemake saliency`)."""
    tables = [
        "results/mnist/saliency/alignment.csv",
        "results/mnist/saliency/alignment_summary.csv",
        "results/mnist/saliency/judge.csv",
        "results/mnist/saliency/filters.csv",
        "results/mnist/saliency/claims.csv",
        "results/mnist/saliency/claims.md",
        "results/mnist/saliency/linear/accuracy.csv",
    ]
    figures = [
        f"results/figures/saliency_{k}.{ext}" for k in SALIENCY_FIGURES for ext in ("png", "pdf")
    ]
    return tables + figures


def saliency_extract_params():
    return canonical({k: SALIENCY[k] for k in ("examples", "alignment", "large_eps", "filters")})


def saliency_files(name):
    return [
        f"results/mnist/saliency/{r}/n~{n}/seed~{s}/{name}" for r, n, s in saliency_models(config)
    ]


def saliency_judge_files(name):
    return [f"results/mnist/saliency/judge/seed~{s}/{name}" for s in SALIENCY["models"]["seeds"]]


def saliency_figure_arrays():
    """Figures show each studied model's first seed."""
    seed = SALIENCY["models"]["seeds"][0]
    size = SALIENCY["models"]["size"]
    return [
        f"results/mnist/saliency/{r}/n~{size}/seed~{seed}/arrays.npz"
        for r in SALIENCY["models"]["recipes"]
    ]


def saliency_objectives():
    return canonical(
        {r: RECIPES[r].get("objective", "standard") for r in SALIENCY["models"]["recipes"]}
    )
