# Saliency stage (paper Section 4): judge -> per-model gradients, alignment, large-eps examples,
# filters -> linear SVMs on a digit pair -> merged tables and claims -> figures.


rule saliency_judge:
    input:
        data=rules.mnist_data.output[0],
    output:
        weights="results/mnist/saliency/judge/seed~{seed}/weights.safetensors",
        history="results/mnist/saliency/judge/seed~{seed}/history.json",
    log:
        "logs/saliency_judge/seed~{seed}.log",
    benchmark:
        "benchmarks/saliency_judge/seed~{seed}.tsv"
    conda:
        plan.torch_env(CONFIG)
    threads: 1
    resources:
        gpu=plan.mnist_gpus(CONFIG),
        runtime=plan.mnist_minutes(CONFIG, "saliency_judge"),
    params:
        size=SALIENCY["models"]["size"],
        judge=plan.saliency_judge_params(CONFIG, "judge"),
        runtime=plan.mnist_runtime(CONFIG),
        checkpoints="resources/checkpoints/saliency_judge/seed~{seed}",
        code=CODE["saliency"],
    message:
        "Training the saliency judge, seed {wildcards.seed} (long); progress in {log}"
    script:
        "../scripts/saliency_judge.py"


rule saliency_robust_judge:
    input:
        data=rules.mnist_data.output[0],
    output:
        weights="results/mnist/saliency/robust_judge/seed~{seed}/weights.safetensors",
        history="results/mnist/saliency/robust_judge/seed~{seed}/history.json",
    log:
        "logs/saliency_robust_judge/seed~{seed}.log",
    benchmark:
        "benchmarks/saliency_robust_judge/seed~{seed}.tsv"
    conda:
        plan.torch_env(CONFIG)
    threads: 1
    resources:
        gpu=plan.mnist_gpus(CONFIG),
        runtime=plan.mnist_minutes(CONFIG, "saliency_robust_judge"),
    params:
        size=SALIENCY["models"]["size"],
        judge=plan.saliency_judge_params(CONFIG, "robust_judge"),
        role="robust_judge",
        runtime=plan.mnist_runtime(CONFIG),
        checkpoints="resources/checkpoints/saliency_robust_judge/seed~{seed}",
        code=CODE["saliency"],
    message:
        "Training the robust saliency judge (l2 PGD), seed {wildcards.seed} (long); progress in {log}"
    script:
        "../scripts/saliency_judge.py"


rule saliency_extract:
    input:
        data=rules.mnist_data.output[0],
        weights=rules.mnist_train.output.weights,
        judge=rules.saliency_judge.output.weights,
        robust_judge=rules.saliency_robust_judge.output.weights,
    output:
        arrays="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/arrays.npz",
        alignment="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/alignment.csv",
        large_eps="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/large_eps.csv",
        panel="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/panel.csv",
        interpolation="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/interpolation.csv",
        filters="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/filters.csv",
    log:
        "logs/saliency_extract/{recipe}/n~{size}/seed~{seed}.log",
    benchmark:
        "benchmarks/saliency_extract/{recipe}/n~{size}/seed~{seed}.tsv"
    conda:
        plan.torch_env(CONFIG)
    threads: 1
    resources:
        gpu=plan.mnist_gpus(CONFIG),
        runtime=plan.mnist_minutes(CONFIG, "saliency_extract"),
    params:
        spec=plan.saliency_extract_params(CONFIG),
        expect=lambda w: plan.model_identity(CONFIG, w.recipe, w.size, w.seed),
        device=MNIST["device"],
        code=CODE["saliency"],
    message:
        "Saliency of {wildcards.recipe}, n={wildcards.size}, seed {wildcards.seed} (gradients, large-eps attacks); log in {log}"
    script:
        "../scripts/saliency_extract.py"


rule saliency_linear:
    input:
        data=rules.mnist_data.output[0],
    output:
        arrays="results/mnist/saliency/linear/weights.npz",
        table="results/mnist/saliency/linear/accuracy.csv",
    log:
        "logs/saliency_linear.log",
    benchmark:
        "benchmarks/saliency_linear.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    params:
        linear=SALIENCY["linear"],
        code=CODE["saliency_linear"],
    message:
        "Fitting the linear SVMs of App. E; log in {log}"
    script:
        "../scripts/saliency_linear.py"


rule saliency_tables:
    input:
        alignment=expand(
            rules.saliency_extract.output.alignment, zip, **plan.saliency_model_columns(CONFIG)
        ),
        large_eps=expand(
            rules.saliency_extract.output.large_eps, zip, **plan.saliency_model_columns(CONFIG)
        ),
        filters=expand(
            rules.saliency_extract.output.filters, zip, **plan.saliency_model_columns(CONFIG)
        ),
        panel=expand(
            rules.saliency_extract.output.panel, zip, **plan.saliency_model_columns(CONFIG)
        ),
        interpolation=expand(
            rules.saliency_extract.output.interpolation,
            zip,
            **plan.saliency_model_columns(CONFIG),
        ),
        judges=expand(rules.saliency_judge.output.history, seed=SALIENCY["models"]["seeds"]),
        robust_judges=expand(
            rules.saliency_robust_judge.output.history, seed=SALIENCY["models"]["seeds"]
        ),
        linear=rules.saliency_linear.output.table,
        linear_arrays=rules.saliency_linear.output.arrays,
    output:
        alignment="results/mnist/saliency/alignment.csv",
        alignment_summary=report(
            "results/mnist/saliency/alignment_summary.csv",
            caption="../report/saliency_alignment.rst",
            category="Saliency",
            labels={"table": "alignment scores"},
        ),
        judge=report(
            "results/mnist/saliency/judge.csv",
            caption="../report/saliency_judge.rst",
            category="Saliency",
            labels={"table": "judge"},
        ),
        judge_panel=report(
            "results/mnist/saliency/judge_panel.csv",
            caption="../report/saliency_judge_panel.rst",
            category="Saliency",
            labels={"table": "judge panel"},
        ),
        interpolation=report(
            "results/mnist/saliency/interpolation.csv",
            caption="../report/saliency_interpolation.rst",
            category="Saliency",
            labels={"table": "interpolation"},
        ),
        filters=report(
            "results/mnist/saliency/filters.csv",
            caption="../report/saliency_filters.rst",
            category="Saliency",
            labels={"table": "thresholding filters"},
        ),
        claims="results/mnist/saliency/claims.csv",
        claims_md="results/mnist/saliency/claims.md",
        claims_html=report(
            "results/mnist/saliency/claims.html",
            caption="../report/saliency_claims.rst",
            category="Saliency",
            labels={"table": "paper claims"},
        ),
    log:
        "logs/saliency_tables.log",
    conda:
        plan.torch_env(CONFIG)  # the judge panel's controls import the image helpers (torch)
    threads: 1
    params:
        objectives=plan.saliency_objectives(CONFIG),
        norms=plan.saliency_norms(CONFIG),
        recipes=plan.mnist_recipe_table(CONFIG),
        code=CODE["saliency_tables"],
    script:
        "../scripts/saliency_tables.py"


rule saliency_figure:
    input:
        arrays=expand(
            rules.saliency_extract.output.arrays, zip, **plan.saliency_figure_columns(CONFIG)
        ),
        alignment=rules.saliency_tables.output.alignment,
        judge=rules.saliency_tables.output.judge,
        linear_arrays=rules.saliency_linear.output.arrays,
        linear_table=rules.saliency_linear.output.table,
    output:
        png=report(
            "results/figures/saliency_{kind}.png",
            caption="../report/saliency_figure.rst",
            category="Saliency",
            labels={"figure": "{kind}"},
        ),
        pdf="results/figures/saliency_{kind}.pdf",
    log:
        "logs/saliency_figure/{kind}.log",
    wildcard_constraints:
        kind="|".join(plan.SALIENCY_FIGURES),
    conda:
        "../../envs/plots.yaml"
    threads: 1
    params:
        kind="{kind}",
        models=list(SALIENCY["models"]["recipes"]),
        recipes=plan.mnist_recipe_table(CONFIG),
        filters=SALIENCY["filters"],
        style=STYLE,
        code=CODE["saliency_figures"],
    script:
        "../scripts/saliency_figure.py"


rule saliency:
    input:
        rules.saliency_tables.output,
        rules.saliency_linear.output.table,
        expand(rules.saliency_figure.output, kind=plan.SALIENCY_FIGURES),
        # every model's own files: a missing one is rebuilt (see rule mnist)
        expand(rules.mnist_train.output, zip, **plan.saliency_model_columns(CONFIG)),
        expand(rules.saliency_judge.output, seed=SALIENCY["models"]["seeds"]),
        expand(rules.saliency_robust_judge.output, seed=SALIENCY["models"]["seeds"]),
