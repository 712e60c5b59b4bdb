"""What the workflow builds and with which params: pure functions of the validated config.

``workflow/rules/*.smk`` call these (the rules keep only directives); each takes the config that
:func:`tradeoff.workflow.config.validate_config` returns (defaults filled, keys sorted) and, for per-job
params, the job's wildcards (any object with the wildcard names as attributes). Job grids come as
wildcard columns for ``expand(rules.<name>.output.<file>, zip, **columns)``, so output paths are
typed once, in the rule that writes them. Every params builder returns dicts with sorted keys:
Snakemake compares params by their text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tradeoff.workflow.config import (
    SAME_RECIPE,
    ConfigError,
    DataPoint,
    FitSpec,
    canonical,
    expand_recipes,
    fmt,
    masking_models,
    recipe_defaults,
    saliency_models,
    sweep_fits,
    sweep_points,
    trained_models,
)

Columns = dict[str, list[Any]]

STAGES_DIR = Path(__file__).resolve().parent.parent / "stages"

THEORY_FIGURES = ("bound", "eps_train", "weight_share", "closed_form")
"""The theory figures drawn from the trade-off sweep (``results/figures/theory_<kind>.*``)."""

MNIST_FIGURES = ("robust_vs_test_eps", "frontier", "accuracy_vs_train_eps")
"""The MNIST figures every config draws; ``accuracy_vs_size`` is added when a recipe has two sizes."""

SALIENCY_FIGURES = (
    "gradients", "alignment", "large_eps", "interpolation", "filters", "judge", "linear_weights", "linear_accuracy",
)  # fmt: skip


def stage_modules() -> list[str]:
    """Every stage module (``tradeoff.stages.<name>``): one code hash each."""
    return sorted(p.stem for p in STAGES_DIR.glob("*.py") if p.stem != "__init__")


def stage_code_hashes() -> dict[str, str]:
    """Stage name -> content hash of its module and everything it imports from the package
    (:func:`tradeoff.provenance.code_hash`): a rule's params carry its stage's hash, so editing a
    module re-runs exactly the rules whose stage imports it."""
    from tradeoff.provenance import code_hash

    return {name: code_hash(f"tradeoff.stages.{name}") for name in stage_modules()}


def columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> Columns:
    """Rows of wildcard values -> one list per wildcard (the shape ``expand(..., zip, ...)`` takes)."""
    return {name: [row[name] for row in rows] for name in names}


# ---------------------------------------------------------------------------------------------------
# Theory (paper Section 2)


def theory_sweeps(config: dict[str, Any]) -> list[str]:
    return sorted(config["theory"]["sweeps"])


def point_wildcards(point: DataPoint) -> dict[str, str]:
    """A data point's wildcards in the sample path (their text is the point's slug)."""
    return {"p": fmt(point.p), "d": str(point.d), "eta": fmt(point.eta), "n": str(point.n_train),
            "m": str(point.n_test)}


def sweep_sample_columns(config: dict[str, Any], sweep: str) -> Columns:
    """The samples a sweep's evaluation reads, as wildcard columns of ``theory_sample``."""
    rows = [point_wildcards(pt) for pt in sweep_points(config, sweep)]
    return columns(rows, ("p", "d", "eta", "n", "m"))


def sweep_fit_columns(config: dict[str, Any], sweep: str) -> Columns:
    """The fits a sweep's evaluation reads, as wildcard columns of ``theory_fit``."""
    rows = [{**point_wildcards(f.point), "C": fmt(f.C), "model": f.model} for f in sweep_fits(config, sweep)]
    return columns(rows, ("p", "d", "eta", "n", "m", "C", "model"))


def point_params(wildcards: Any) -> dict[str, Any]:
    """The data point of a job, parsed from its wildcards."""
    pt = DataPoint.from_wildcards(wildcards.p, wildcards.d, wildcards.eta, wildcards.n, wildcards.m)
    return canonical({"slug": pt.slug, "p": pt.p, "d": pt.d, "eta": pt.eta, "n_train": pt.n_train,
                      "n_test": pt.n_test})


def fit_params(config: dict[str, Any], wildcards: Any) -> dict[str, Any]:
    """Everything a fit depends on besides its input sample."""
    th = config["theory"]
    pt = point_params(wildcards)
    if wildcards.model == "svm":
        norm, eps = "none", 0.0
    else:
        norm, text = wildcards.model.split("_eps~")
        eps = float(text)
    return canonical({
        "slug": pt["slug"], "p": pt["p"], "d": pt["d"], "eta": pt["eta"], "C": float(wildcards.C), "norm": norm,
        "eps_train": eps, "tol": float(th["solver"]["tol"]), "max_iter": int(th["solver"]["max_iter"]),
        "seeds": list(th["seeds"]),
    })  # fmt: skip


def sweep_figure_axis(config: dict[str, Any], sweep: str) -> str:
    """The axis a sweep's figure draws accuracy against (the one it varies besides eps_train)."""
    return sweep_axis(config, sweep)


def evaluate_params(config: dict[str, Any], sweep: str) -> dict[str, Any]:
    th = config["theory"]
    return canonical({"sweep": sweep, "eps_test": list(th["eps_test"]),
                      "test_norms": sweep_test_norms(config, sweep), "seeds": list(th["seeds"])})


# ---------------------------------------------------------------------------------------------------
# MNIST (paper Sections 3-4)


SHIPPED_MNIST = Path("data") / "mnist"
"""Where the four original MNIST IDX files the project ships lie (``source: shipped``), relative to
the workflow's folder (the Snakefile's, ``workflow.basedir``): the package finds nothing by its own
position, so an installed package serves any copy of the workflow."""


def mnist_source_folder(config: dict[str, Any], workflow_dir: str | Path) -> str | None:
    """The folder the IDX sources read: ``workflow_dir``'s ``data/mnist`` (shipped, relative to the
    working directory when it lies below it) or the config's ``path`` (local); None otherwise."""
    data = config["mnist"]["data"]
    if data["source"] == "shipped":
        folder = Path(workflow_dir).resolve() / SHIPPED_MNIST
        try:
            return str(folder.relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(folder)
    return data["path"] if data["source"] == "local" else None


def mnist_source_files(config: dict[str, Any], workflow_dir: str | Path) -> list[str]:
    """The IDX files the data rule reads, as its inputs: a changed or replaced file re-runs the
    data rule and everything after it. ``DataError`` names what was looked for when one is missing."""
    from tradeoff.datasets.mnist import DataError, find_idx_files

    folder = mnist_source_folder(config, workflow_dir)
    if folder is None:
        return []
    try:
        files = find_idx_files(folder)
    except DataError as err:
        if config["mnist"]["data"]["source"] == "shipped":
            raise DataError(f"{err} (the project ships them in data/mnist; or set mnist.data.source to "
                            "local or download)") from None
        raise
    return sorted(str(p) for pair in files.values() for p in pair)


def mnist_data_params(config: dict[str, Any], workflow_dir: str | Path) -> dict[str, Any]:
    data = config["mnist"]["data"]
    return canonical({"source": data["source"], "path": mnist_source_folder(config, workflow_dir),
                      "cache_dir": data["cache_dir"], "test_fraction": float(data["test_fraction"]),
                      "split_seed": int(data["split_seed"]), "validation": int(data["validation"])})


def mnist_runtime(config: dict[str, Any]) -> dict[str, Any]:
    """Device and precision: they change numbers, so they are params (and recorded in outputs)."""
    return canonical({"device": config["mnist"]["device"], "precision": config["mnist"]["precision"]})


def mnist_gpus(config: dict[str, Any]) -> int:
    """GPUs a GPU rule's job requests: 1 for mnist.device cuda; none for auto or cpu (a profile may
    add one per rule; a job that requested a GPU and finds none stops: :mod:`tradeoff.workflow.cluster`)."""
    from tradeoff.workflow.cluster import gpu_request

    return gpu_request(config["mnist"]["device"])


def torch_env(config: dict[str, Any]) -> str:
    """The GPU rules' conda env: envs/torch-gpu.yaml (CUDA build) for cuda, else envs/torch.yaml."""
    from tradeoff.workflow.cluster import torch_env as env

    return env(config["mnist"]["device"])


def mnist_minutes(config: dict[str, Any], rule: str) -> Any:
    """SLURM time limit (minutes, per attempt) of a torch rule's jobs: from measured CPU throughput
    and the config's work; provisional for GPU jobs (:mod:`tradeoff.workflow.cluster`)."""
    from tradeoff.workflow.cluster import cpu_minutes, job_minutes

    cpu = cpu_minutes(config, mnist_recipes(config), mnist_models(config), attack_grid(config))
    minutes = job_minutes(rule, config["mnist"]["device"], cpu)
    return lambda wildcards, attempt: minutes * attempt


def mnist_model_columns(config: dict[str, Any]) -> Columns:
    """Every trained model as wildcard columns (recipe, size, seed) of ``mnist_train``/``mnist_eval``."""
    rows = [{"recipe": r, "size": n, "seed": s} for r, n, s in mnist_models(config)]
    return columns(rows, ("recipe", "size", "seed"))


def mnist_recipes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every named recipe as the config's layers give it (``mnist.defaults``, the recipe over them,
    sweeps expanded into ``<sweep>-<value>`` recipes: :func:`tradeoff.workflow.config.expand_recipes`);
    what the recipe table shows. :func:`recipe_params` completes one."""
    return expand_recipes(config["mnist"])


def mnist_models(config: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Every trained model as (recipe, training-set size, seed), sorted, without duplicates."""
    return trained_models(config["mnist"])


def recipe_params(config: dict[str, Any], recipe: str) -> dict[str, Any]:
    """A recipe's complete training settings (every
    :class:`tradeoff.adversarial.training.TrainConfig` field but seed and device),
    each from one layer, the later winning: the schema's defaults
    (:func:`tradeoff.workflow.config.recipe_defaults`), ``mnist.precision``, then the recipe as the config
    gives it (:func:`mnist_recipes`: ``mnist.defaults``, the recipe, a sweep's value; a recipe's own
    precision is an opt-in lever). Merged here only."""
    return canonical({**recipe_defaults(), "precision": config["mnist"]["precision"],
                      **mnist_recipes(config)[recipe]})


def mnist_train_runtime(config: dict[str, Any]) -> dict[str, Any]:
    """The training device (the precision is in :func:`recipe_params`)."""
    return {"device": config["mnist"]["device"]}


def transfer_source_wildcards(config: dict[str, Any], wildcards: Any) -> dict[str, str]:
    """The ``mnist_train`` wildcards of the model whose examples the transfer check of the model
    ``wildcards`` (recipe, size, seed) replays (:func:`transfer_source`)."""
    recipe, size, seed = transfer_source(config, wildcards.recipe, int(wildcards.size), int(wildcards.seed))
    return {"recipe": recipe, "size": str(size), "seed": str(seed)}


def with_transfer_sources(config: dict[str, Any], models: Columns) -> Columns:
    """The models ``models`` (wildcard columns recipe, size, seed) and the transfer source of each
    (:func:`transfer_source`), each once, in order: every model whose files a stage reads."""
    rows: dict[tuple[str, int, int], None] = {}
    for recipe, size, seed in zip(models["recipe"], models["size"], models["seed"], strict=True):
        rows[(str(recipe), int(size), int(seed))] = None
        rows[transfer_source(config, str(recipe), int(size), int(seed))] = None
    return columns([{"recipe": r, "size": n, "seed": s} for r, n, s in rows], ("recipe", "size", "seed"))


def model_identity(config: dict[str, Any], recipe: str, size: int | str, seed: int | str) -> dict[str, str]:
    """What the weights file of the model (recipe, size, seed) must say it is
    (:func:`tradeoff.nets.identity.model_identity` of the recipe's params as ``mnist_train`` gets them)."""
    from tradeoff.nets.identity import model_identity as identity

    return identity(recipe, recipe_params(config, recipe), size, seed)


def eval_identities(config: dict[str, Any], wildcards: Any) -> dict[str, dict[str, str]]:
    """The identities an evaluation job's two weights files must state: ``expect`` (the model's)
    and ``source_expect`` (its transfer source's)."""
    source = transfer_source_wildcards(config, wildcards)
    return canonical({"expect": model_identity(config, wildcards.recipe, wildcards.size, wildcards.seed),
                      "source_expect": model_identity(config, source["recipe"], source["size"], source["seed"])})


def mnist_eval_params(config: dict[str, Any], recipe: str | None = None) -> dict[str, Any]:
    """The evaluation params of a model of ``recipe``: its attack grid (entries restricted to
    other recipes left out), images, batch, seed, masking checks, levers."""
    ev = config["mnist"]["evaluation"]
    params = {"grid": attack_grid(config, recipe), "n": ev["n"], "batch_size": ev["batch_size"],
              "eval_seed": ev["seed"], "sanity_spec": sanity_spec(config, recipe),
              "channels_last": ev["channels_last"]}
    if "attack_n" in ev:  # only when set: configs without it keep their params (no re-run)
        params["attack_n"] = ev["attack_n"]
    return canonical(params)


def own_threat(config: dict[str, Any], recipe: str) -> tuple[str, float] | None:
    """The threat model (norm, eps) a robust recipe is trained at; None for a standard recipe."""
    r = recipe_params(config, recipe)
    return None if r["objective"] == "standard" else (str(r["norm"]), float(r["eps"]))


def sanity_spec(config: dict[str, Any], recipe: str | None = None) -> dict[str, Any]:
    """The masking checks' settings for a model of ``recipe`` (``mnist.evaluation.sanity``):
    ``threat: own`` checks a robust recipe's models at the recipe's own norm and eps (a standard
    model, which has no threat model, at ``norm`` and ``eps``, as before); ``threat: fixed`` (the
    default) checks every model at ``norm`` and ``eps``. The ``threat`` key itself is not passed
    on, so a config without it gives the params it gave before (no re-run)."""
    sanity = config["mnist"]["evaluation"]["sanity"]
    spec = {k: v for k, v in sanity.items() if k != "threat"}
    own = own_threat(config, recipe) if recipe is not None and sanity.get("threat") == "own" else None
    if own is not None:
        spec["norm"], spec["eps"] = own
    return canonical(spec)


def mnist_masking_columns(config: dict[str, Any]) -> Columns:
    """The models of ``mnist.masking`` (none without it) as wildcard columns of ``mnist_masking``."""
    rows = [{"recipe": r, "size": n, "seed": s} for r, n, s in masking_models(config["mnist"])]
    return columns(rows, ("recipe", "size", "seed"))


def mnist_masking_params(config: dict[str, Any], wildcards: Any) -> dict[str, Any]:
    """A masking job's params: the model's own threat model (its recipe's norm and eps), the
    images (the first ``mnist.masking.n`` of the evaluation's subset, its seed and batch), the PGD
    and AutoAttack settings, the identity its weights must state and the device."""
    ev, masking = config["mnist"]["evaluation"], config["mnist"]["masking"]
    own = own_threat(config, wildcards.recipe)
    if own is None:  # the config check refuses this first; kept for direct callers
        raise ConfigError(f"config key mnist.masking.models: recipe {wildcards.recipe!r} is standard")
    return canonical({"norm": own[0], "eps": own[1], "n": masking["n"], "eval_seed": ev["seed"],
                      "batch_size": ev["batch_size"], "pgd": masking["pgd"], "autoattack": masking["autoattack"],
                      "expect": model_identity(config, wildcards.recipe, wildcards.size, wildcards.seed),
                      "device": config["mnist"]["device"], "channels_last": ev["channels_last"]})


def mnist_masking_table_params(config: dict[str, Any]) -> dict[str, Any]:
    """The masking table's params: the margin of the mark and the PGD settings (for its caption)."""
    masking = config["mnist"]["masking"]
    return canonical({"margin": masking["margin"], "pgd": masking["pgd"]})


def mnist_masking_targets(config: dict[str, Any]) -> list[str]:
    """The masking table, when ``mnist.masking`` lists models (none otherwise, so a config without it
    builds what it built before)."""
    if not mnist_masking_columns(config)["recipe"]:
        return []
    return ["results/mnist/masking.csv", "results/mnist/masking.md"]


def mnist_trained_recipes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Recipe -> its params as ``mnist_train`` gets them (:func:`recipe_params`, precision merged):
    what each weights file's ``recipe_hash`` and each evaluation's record are computed from."""
    return canonical({name: recipe_params(config, name) for name in sorted(mnist_recipes(config))})


def mnist_recipe_table(config: dict[str, Any]) -> list[dict[str, Any]]:
    recipes = mnist_recipes(config)
    return [canonical({"recipe": name, **recipes[name]}) for name in sorted(recipes)]


def mnist_compare(config: dict[str, Any]) -> dict[str, Any]:
    """Recipe -> published model it is compared with, and the training-set size compared: each
    compared recipe's largest."""
    models = mnist_models(config)
    return canonical({"compare": config["mnist"]["compare"],
                      "size": {r: max(n for m, n, _ in models if m == r) for r in config["mnist"]["compare"]
                               if any(m == r for m, _, _ in models)}})


def mnist_frontier(config: dict[str, Any]) -> dict[str, Any]:
    sanity = config["mnist"]["evaluation"]["sanity"]
    return canonical({"norm": sanity["norm"], "eps": float(sanity["eps"])})


def mnist_figures(config: dict[str, Any]) -> list[str]:
    """The MNIST figure kinds: accuracy against training-set size only if some recipe has two sizes."""
    sizes: dict[str, set[int]] = {}
    for recipe, size, _ in mnist_models(config):
        sizes.setdefault(recipe, set()).add(size)
    several = any(len(s) > 1 for s in sizes.values())
    return [*MNIST_FIGURES, *(["accuracy_vs_size"] if several else [])]


def mnist_stopping_models(config: dict[str, Any]) -> Columns:
    """The models trained under the stopping rule (a recipe's ``stopping:``), as wildcard columns of
    ``mnist_train``: the rows of ``results/mnist/training_length.csv``."""
    recipes = mnist_recipes(config)
    rows = [{"recipe": r, "size": n, "seed": s} for r, n, s in mnist_models(config) if "stopping" in recipes[r]]
    return columns(rows, ("recipe", "size", "seed"))


def mnist_training_length_targets(config: dict[str, Any]) -> list[str]:
    """The training-length table, when some model is trained under the stopping rule (none otherwise, so
    a config without the rule builds what it built before)."""
    if not mnist_stopping_models(config)["recipe"]:
        return []
    return ["results/mnist/training_length.csv", "results/mnist/training_length.md"]


def mnist_stage_models(config: dict[str, Any]) -> dict[str, Columns]:
    """Stage name -> the wildcard columns (recipe, size, seed) of the models it trains and evaluates:
    each model in the stage of the first ``mnist.models`` group listing it (groups without a
    ``stage`` belong to none; :func:`tradeoff.workflow.costing.model_stages`)."""
    from tradeoff.workflow.costing import model_stages

    named = {g["stage"] for g in config["mnist"]["models"] if "stage" in g}
    out: dict[str, Columns] = {name: {"recipe": [], "size": [], "seed": []} for name in sorted(named)}
    for (recipe, size, seed), stage in sorted(model_stages(config).items()):
        if stage in out:
            out[stage]["recipe"].append(recipe)
            out[stage]["size"].append(size)
            out[stage]["seed"].append(seed)
    return out


# ---------------------------------------------------------------------------------------------------
# Saliency (paper Section 4)


def saliency_extract_params(config: dict[str, Any]) -> dict[str, Any]:
    sal = config["saliency"]
    return canonical({k: sal[k] for k in ("examples", "alignment", "large_eps", "filters", "pixel_judge", "controls")})


def saliency_model_columns(config: dict[str, Any]) -> Columns:
    """The studied models as wildcard columns of ``saliency_extract``, in config order."""
    rows = [{"recipe": r, "size": n, "seed": s} for r, n, s in saliency_models(config)]
    return columns(rows, ("recipe", "size", "seed"))


def saliency_figure_columns(config: dict[str, Any]) -> Columns:
    """The models the figures show: each studied recipe's first seed."""
    models = config["saliency"]["models"]
    rows = [{"recipe": r, "size": models["size"], "seed": models["seeds"][0]} for r in models["recipes"]]
    return columns(rows, ("recipe", "size", "seed"))


def saliency_judge_params(config: dict[str, Any], role: str) -> dict[str, Any]:
    """A judge's complete recipe (every TrainConfig field but seed, device and precision): the
    schema's defaults (:func:`tradeoff.workflow.config.recipe_defaults`) under ``saliency.<role>``; the
    ``robust_judge`` trains by PGD."""
    objective = {"objective": "pgd"} if role == "robust_judge" else {}
    return canonical({**recipe_defaults(), **objective, **config["saliency"][role]})


def saliency_objectives(config: dict[str, Any]) -> dict[str, str]:
    """Studied recipe -> its training objective (a recipe without one trains the standard way)."""
    return canonical({r: recipe_params(config, r)["objective"] for r in config["saliency"]["models"]["recipes"]})


def saliency_norms(config: dict[str, Any]) -> dict[str, str]:
    """Studied recipe -> its threat model (the schema's default when no layer names one)."""
    return canonical({r: recipe_params(config, r)["norm"] for r in config["saliency"]["models"]["recipes"]})


def reference_claims(config: dict[str, Any]) -> dict[str, str]:
    """This run's claims tables set beside the paper-grade ones (title -> path), or none without
    ``reference_results`` or the MNIST section."""
    if not config.get("reference_results") or not config.get("mnist"):
        return {}
    out = {"MNIST claims": "results/mnist/claims.csv"}
    if config.get("saliency"):
        out["Saliency claims"] = "results/mnist/saliency/claims.csv"
    return out


def reference_files(config: dict[str, Any]) -> list[str]:
    """The committed paper-grade claims tables that exist (inputs: a new commit of them re-runs
    the comparison)."""
    from tradeoff.stages.claims_reference import reference_files as existing

    return existing(config.get("reference_results"), list(reference_claims(config)))


def reference_dir(config: dict[str, Any], files: Sequence[str]) -> str:
    """The folder of the committed paper-grade claims tables: the one that holds ``files`` (the rule's
    inputs), else ``reference_results`` (no table committed: every row says so)."""
    folders = {str(Path(f).parent) for f in files}
    if len(folders) > 1:
        raise ValueError(f"reference claims tables in more than one folder: {sorted(folders)}")
    return folders.pop() if folders else config["reference_results"]


def tables(files: list[str]) -> list[str]:
    """The tables among a stage's targets (what the provenance manifest hashes)."""
    return [f for f in files if str(f).endswith((".csv", ".md"))]


def data_files(config: dict[str, Any], workflow_dir: str | Path) -> list[str]:
    """The data the provenance manifest hashes besides the tables: MNIST's source files and the
    validated npz."""
    if not config.get("mnist"):
        return []
    return mnist_source_files(config, workflow_dir) + ["results/mnist/data.npz"]


def headline_trials(config: dict[str, Any]) -> list[str]:
    """The configured headline validation trials (``headline.trials``), sorted."""
    return sorted(config["headline"]["trials"]) if config.get("headline") else []


def headline_models(config: dict[str, Any]) -> list[str]:
    """The configured headline models (``headline.models``), sorted."""
    return sorted(config["headline"]["models"]) if config.get("headline") else []


def headline_trial_params(config: dict[str, Any], trial: str) -> dict[str, Any]:
    """A trial's complete training config (:class:`tradeoff.adversarial.training.TrainConfig`
    fields): the schema's defaults (:func:`tradeoff.workflow.config.recipe_defaults`), ``headline.defaults``
    and the trial's recipe over them, its seed and ``headline.device``."""
    hl = config["headline"]
    spec = hl["trials"][trial]
    return canonical({**recipe_defaults(), **hl["defaults"], **spec["recipe"], "seed": spec["seed"],
                      "device": hl["device"]})


def headline_trial_threads(config: dict[str, Any], trial: str) -> int:
    """The torch threads a trial trains and is judged with (its sums depend on them)."""
    return int(config["headline"]["trials"][trial]["threads"])


def headline_validation_params(config: dict[str, Any]) -> dict[str, Any]:
    """How a trial is judged on validation (``headline.validation``)."""
    return canonical(config["headline"]["validation"])


def headline_look_params(config: dict[str, Any], model: str) -> dict[str, Any]:
    """The one test look at a headline model: its protocol, the test-set log, and the reason for a
    second look at weights already on the log (empty: the stage refuses one)."""
    spec = config["headline"]["models"][model]
    return {"protocol": spec["protocol"], "reason": spec["reason"], "test_log": config["headline"]["test_log"]}


def headline_rule(config: dict[str, Any], model: str) -> dict[str, Any]:
    """A headline model's selection rule: candidates, thresholds, fallback, protocol."""
    spec = config["headline"]["models"][model]
    return canonical({k: spec[k] for k in ("trials", "protocol", "min_clean", "min_robust", "otherwise")})


# The job grids derived from the config (moved from tradeoff.workflow.config at issue 28: config.py loads, fills
# and validates; the planner derives what runs).

#: The seed offset of a copy trained only to be a transfer source (no configured seed to reuse).
COPY_SEED_OFFSET = 1000


def all_fits(config: dict[str, Any]) -> list[FitSpec]:
    return sorted({f for s in config["theory"]["sweeps"] for f in sweep_fits(config, s)})


def sweep_test_norms(config: dict[str, Any], sweep: str) -> list[str]:
    """Threat models a sweep's classifiers are evaluated under: those it trains with (l_inf at least)."""
    th = config["theory"]
    norms = set(th["sweeps"][sweep].get("norm", [th["base"]["norm"]]))
    return sorted(norms | {"linf"})


def sweep_axis(config: dict[str, Any], sweep: str) -> str:
    """The one axis besides eps_train that an axis sweep varies (checked by check_consistency)."""
    varied = [a for a, v in config["theory"]["sweeps"][sweep].items() if a != "eps_train" and len(v) > 1]
    if len(varied) != 1:
        raise ConfigError(f"config key theory.sweeps.{sweep}: varies {varied}, not exactly one axis")
    return varied[0]


def transfer_source(config: dict[str, Any], recipe: str, size: int, seed: int) -> tuple[str, int, int]:
    """The (recipe, size, seed) whose PGD examples the gradient-masking transfer check of model
    (recipe, size, seed) replays. With ``source_recipe: same``: the same recipe and size at another
    seed, the next configured seed of that (recipe, size) (cyclically) when it has two or more,
    else ``seed + COPY_SEED_OFFSET`` (a copy trained for this check only). Otherwise the source
    recipe's model of the same size and seed."""
    source = config["mnist"]["evaluation"]["sanity"]["source_recipe"]
    if source != SAME_RECIPE:
        return source, size, seed
    seeds = sorted(s for r, n, s in mnist_models(config) if (r, n) == (recipe, size))
    if len(seeds) >= 2 and seed in seeds:
        return recipe, size, seeds[(seeds.index(seed) + 1) % len(seeds)]
    return recipe, size, seed + COPY_SEED_OFFSET


def attack_grid(config: dict[str, Any], recipe: str | None = None) -> list[dict[str, Any]]:
    """The evaluation's attack specs, one per (entry, eps), in config order: those that the models
    of ``recipe`` run (entries without ``recipes``, or listing it), or every entry (None)."""
    grid: list[dict[str, Any]] = []
    for entry in config["mnist"]["evaluation"]["attacks"]:
        if recipe is not None and recipe not in entry.get("recipes", [recipe]):
            continue
        if entry["attack"] == "clean":
            grid.append({"attack": "clean"})
            continue
        for eps in entry["eps"]:
            spec = {k: v for k, v in entry.items() if k not in ("eps", "recipes")}
            spec["eps"] = float(eps)
            grid.append(spec)
    return grid
