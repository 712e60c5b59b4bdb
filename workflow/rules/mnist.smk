# MNIST stage (paper Sections 3-4): data -> adversarial training -> attack evaluation -> tables.


rule mnist_data:
    input:
        MNIST_SOURCE_FILES,
    output:
        "results/mnist/data.npz",
    log:
        "logs/mnist_data.log",
    benchmark:
        "benchmarks/mnist_data.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    params:
        data=plan.mnist_data_params(CONFIG, REPO),
        code=CODE["mnist_data"],
    script:
        "../scripts/mnist_data.py"


rule mnist_train:
    input:
        data=rules.mnist_data.output[0],
    output:
        weights="results/mnist/models/{recipe}/n~{size}/seed~{seed}/weights.safetensors",
        history="results/mnist/models/{recipe}/n~{size}/seed~{seed}/history.json",
    log:
        "logs/mnist_train/{recipe}/n~{size}/seed~{seed}.log",
    benchmark:
        "benchmarks/mnist_train/{recipe}/n~{size}/seed~{seed}.tsv"
    conda:
        plan.torch_env(CONFIG)
    threads: 1
    resources:
        gpu=plan.mnist_gpus(CONFIG),
        runtime=plan.mnist_minutes(CONFIG, "mnist_train"),
    params:
        recipe=lambda w: plan.recipe_params(CONFIG, w.recipe),
        runtime=plan.mnist_train_runtime(CONFIG),
        checkpoints="resources/checkpoints/mnist/{recipe}/n~{size}/seed~{seed}",
        code=CODE["mnist_train"],
    message:
        "Training MNIST model {wildcards.recipe}, n={wildcards.size}, seed {wildcards.seed} (long); progress in {log}"
    script:
        "../scripts/mnist_train.py"


rule mnist_eval:
    input:
        data=rules.mnist_data.output[0],
        weights=rules.mnist_train.output.weights,
        # transfer attacks are crafted on the source model: another seed of the same recipe
        # (source_recipe: same) or the source recipe's model of the same size and seed
        source=lambda w: expand(
            rules.mnist_train.output.weights, **plan.transfer_source_wildcards(CONFIG, w)
        )[0],
    output:
        table="results/mnist/eval/{recipe}/n~{size}/seed~{seed}.csv",
        sanity="results/mnist/eval/{recipe}/n~{size}/seed~{seed}.sanity.json",
        outcomes="results/mnist/eval/{recipe}/n~{size}/seed~{seed}.outcomes.npz",
    log:
        "logs/mnist_eval/{recipe}/n~{size}/seed~{seed}.log",
    benchmark:
        "benchmarks/mnist_eval/{recipe}/n~{size}/seed~{seed}.tsv"
    conda:
        plan.torch_env(CONFIG)
    threads: 1
    resources:
        gpu=plan.mnist_gpus(CONFIG),
        runtime=plan.mnist_minutes(CONFIG, "mnist_eval"),
    params:
        evaluation=lambda w: plan.mnist_eval_params(CONFIG, w.recipe),
        models=lambda w: plan.eval_identities(CONFIG, w),
        runtime=plan.mnist_runtime(CONFIG),
        code=CODE["mnist_eval"],
    message:
        "Attacking MNIST model {wildcards.recipe}, n={wildcards.size}, seed {wildcards.seed} (PGD grid, sanity checks; long); progress with ETA in {log}"
    script:
        "../scripts/mnist_eval.py"


# Masking ruled out (docs/CLAIMS.md 5.8): the models of mnist.masking attacked by PGD and AutoAttack at
# their own threat model on the same images; the table marks a recipe whose PGD overstates. A config
# without mnist.masking has no such rules.
if plan.mnist_masking_targets(CONFIG):

    rule mnist_masking:
        input:
            data=rules.mnist_data.output[0],
            weights=rules.mnist_train.output.weights,
        output:
            "results/mnist/masking/{recipe}/n~{size}/seed~{seed}.json",
        log:
            "logs/mnist_masking/{recipe}/n~{size}/seed~{seed}.log",
        benchmark:
            "benchmarks/mnist_masking/{recipe}/n~{size}/seed~{seed}.tsv"
        conda:
            plan.torch_env(CONFIG)
        threads: 1
        resources:
            runtime=plan.mnist_minutes(CONFIG, "mnist_masking"),
        params:
            masking=lambda w: plan.mnist_masking_params(CONFIG, w),
            code=CODE["mnist_masking"],
        message:
            "Masking check of MNIST model {wildcards.recipe}, n={wildcards.size}, seed {wildcards.seed} (PGD and AutoAttack; long); progress in {log}"
        script:
            "../scripts/mnist_masking.py"

    rule mnist_masking_table:
        input:
            records=expand(rules.mnist_masking.output[0], zip, **plan.mnist_masking_columns(CONFIG)),
        output:
            csv="results/mnist/masking.csv",
            md="results/mnist/masking.md",
        log:
            "logs/mnist_masking_table.log",
        conda:
            "../../envs/theory.yaml"
        threads: 1
        params:
            table=plan.mnist_masking_table_params(CONFIG),
            code=CODE["mnist_masking_table"],
        script:
            "../scripts/mnist_masking_table.py"


rule mnist_tables:
    input:
        tables=expand(rules.mnist_eval.output.table, zip, **plan.mnist_model_columns(CONFIG)),
        sanity=expand(rules.mnist_eval.output.sanity, zip, **plan.mnist_model_columns(CONFIG)),
        outcomes=expand(rules.mnist_eval.output.outcomes, zip, **plan.mnist_model_columns(CONFIG)),
        # the masking table (mnist.masking): its marked recipes' robust accuracy is AutoAttack's
        masking=plan.mnist_masking_targets(CONFIG)[:1],
    output:
        merged=report(
            "results/mnist/robustness.csv",
            caption="../report/mnist_robustness.rst",
            category="MNIST",
            labels={"table": "all models"},
        ),
        summary="results/mnist/robustness_summary.csv",
        sanity=report(
            "results/mnist/sanity.csv",
            caption="../report/mnist_sanity.rst",
            category="MNIST",
            labels={"table": "sanity checks"},
        ),
        recipes="results/mnist/recipes.csv",
        paper_csv="results/mnist/paper_comparison.csv",
        paper_md="results/mnist/paper_comparison.md",
        paper_html=report(
            "results/mnist/paper_comparison.html",
            caption="../report/mnist_paper.rst",
            category="MNIST",
            labels={"table": "paper comparison"},
        ),
        claims="results/mnist/claims.csv",
        claims_md="results/mnist/claims.md",
        claims_html=report(
            "results/mnist/claims.html",
            caption="../report/mnist_claims.rst",
            category="MNIST",
            labels={"table": "paper claims"},
        ),
    log:
        "logs/mnist_tables.log",
    conda:
        "../../envs/theory.yaml"
    threads: 1
    params:
        recipes=plan.mnist_recipe_table(CONFIG),
        trained=plan.mnist_trained_recipes(CONFIG),
        compare=plan.mnist_compare(CONFIG),
        code=CODE["mnist_tables"],
    script:
        "../scripts/mnist_tables.py"


rule mnist_figure:
    input:
        merged=rules.mnist_tables.output.merged,
        recipes=rules.mnist_tables.output.recipes,
    output:
        png=report(
            "results/figures/mnist_{kind}.png",
            caption="../report/mnist_figure.rst",
            category="MNIST",
            labels={"figure": "{kind}"},
        ),
        pdf="results/figures/mnist_{kind}.pdf",
    log:
        "logs/mnist_figure/{kind}.log",
    wildcard_constraints:
        kind="accuracy_vs_size|accuracy_vs_train_eps|robust_vs_test_eps|frontier",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    params:
        kind="{kind}",
        frontier=plan.mnist_frontier(CONFIG),
        style=STYLE,
        code=CODE["mnist_figures"],
    script:
        "../scripts/mnist_figure.py"


# The training lengths under the stopping rule (docs/CLAIMS.md 4c), one row per model trained under it.
rule mnist_training_length:
    input:
        histories=expand(
            rules.mnist_train.output.history, zip, **plan.mnist_stopping_models(CONFIG)
        ),
    output:
        csv="results/mnist/training_length.csv",
        md="results/mnist/training_length.md",
    log:
        "logs/mnist_training_length.log",
    conda:
        "../../envs/theory.yaml"
    threads: 1
    params:
        code=CODE["mnist_training_length"],
    script:
        "../scripts/mnist_training_length.py"


# The paper-grade rerun's seed plan (docs/CLAIMS.md section 4), from validation runs only
# (config/seedplan.yaml; a config without `seed_plan:` has no such rule). Never part of `rule mnist`.
if "seed_plan" in CONFIG:

    rule mnist_seed_plan:
        input:
            data=rules.mnist_data.output[0],
            weights=expand(
                rules.mnist_train.output.weights, zip, **plan.mnist_model_columns(CONFIG)
            ),
            histories=expand(
                rules.mnist_train.output.history, zip, **plan.mnist_model_columns(CONFIG)
            ),
        output:
            scores="results/mnist/seed_plan_scores.csv",
            csv="results/mnist/seed_plan.csv",
            md="results/mnist/seed_plan.md",
        log:
            "logs/mnist_seed_plan.log",
        conda:
            plan.torch_env(CONFIG)
        threads: 1
        params:
            settings=CONFIG.get("seed_plan"),
            standard="standard",
            code=CODE["mnist_seed_plan"],
        script:
            "../scripts/mnist_seed_plan.py"


# The stage targets also list every model's own files (weights, history.json): Snakemake does not
# rebuild a missing intermediate file while what was made from it is up to date (a forced retrain
# stopped by SIGTERM loses both), but it does build a missing file that a target asks for, and then
# re-runs everything made from it.
rule mnist:
    input:
        rules.mnist_tables.output,
        expand(rules.mnist_figure.output, kind=plan.mnist_figures(CONFIG)),
        plan.mnist_training_length_targets(CONFIG),
        plan.mnist_masking_targets(CONFIG),
        expand(
            rules.mnist_train.output,
            zip,
            **plan.with_transfer_sources(CONFIG, plan.mnist_model_columns(CONFIG)),
        ),


# One target per named group of mnist.models (its `stage`): `snakemake stage_<name>` trains and
# evaluates that group's models, so that a long config runs a stage at a time (tradeoff.workflow.costing).
for _stage, _cols in plan.mnist_stage_models(CONFIG).items():

    rule:
        name:
            f"stage_{_stage}"
        input:
            expand(rules.mnist_eval.output.table, zip, **_cols),
            expand(rules.mnist_eval.output.sanity, zip, **_cols),
            expand(rules.mnist_train.output, zip, **plan.with_transfer_sources(CONFIG, _cols)),
        localrule: True


# The masking stage (mnist.masking; its row of the costed plan): `snakemake stage_masking` attacks the
# listed models (trained by the stages above) and writes the masking table.
if plan.mnist_masking_targets(CONFIG):

    rule stage_masking:
        input:
            plan.mnist_masking_targets(CONFIG),
        localrule: True
