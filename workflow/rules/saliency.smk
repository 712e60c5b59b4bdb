# Saliency stage (paper Section 4): judge -> per-model gradients, alignment, large-eps examples,
# filters -> linear SVMs on a digit pair -> merged tables and claims -> figures.


rule saliency_judge:
    input:
        data="results/mnist/data.npz",
    output:
        weights="results/mnist/saliency/judge/seed~{seed}/weights.safetensors",
        history="results/mnist/saliency/judge/seed~{seed}/history.json",
    log:
        "logs/saliency_judge/seed~{seed}.log",
    benchmark:
        "benchmarks/saliency_judge/seed~{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=mnist_gpus(),
    params:
        size=SALIENCY["models"]["size"],
        judge=canonical(SALIENCY["judge"]),
        runtime=mnist_runtime(),
        checkpoints="resources/checkpoints/saliency_judge/seed~{seed}",
        code=CODE["saliency"],
    script:
        "../scripts/saliency_judge.py"


rule saliency_extract:
    input:
        data="results/mnist/data.npz",
        weights="results/mnist/models/{recipe}/n~{size}/seed~{seed}/weights.safetensors",
        judge="results/mnist/saliency/judge/seed~{seed}/weights.safetensors",
    output:
        arrays="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/arrays.npz",
        alignment="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/alignment.csv",
        large_eps="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/large_eps.csv",
        filters="results/mnist/saliency/{recipe}/n~{size}/seed~{seed}/filters.csv",
    log:
        "logs/saliency_extract/{recipe}/n~{size}/seed~{seed}.log",
    benchmark:
        "benchmarks/saliency_extract/{recipe}/n~{size}/seed~{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=mnist_gpus(),
    params:
        spec=saliency_extract_params(),
        device=MNIST["device"],
        code=CODE["saliency"],
    script:
        "../scripts/saliency_extract.py"


rule saliency_linear:
    input:
        data="results/mnist/data.npz",
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
        linear=canonical(SALIENCY["linear"]),
        code=CODE["saliency_linear"],
    script:
        "../scripts/saliency_linear.py"


rule saliency_tables:
    input:
        alignment=saliency_files("alignment.csv"),
        large_eps=saliency_files("large_eps.csv"),
        filters=saliency_files("filters.csv"),
        judges=saliency_judge_files("history.json"),
        linear="results/mnist/saliency/linear/accuracy.csv",
        linear_arrays="results/mnist/saliency/linear/weights.npz",
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
        filters=report(
            "results/mnist/saliency/filters.csv",
            caption="../report/saliency_filters.rst",
            category="Saliency",
            labels={"table": "thresholding filters"},
        ),
        claims="results/mnist/saliency/claims.csv",
        claims_md=report(
            "results/mnist/saliency/claims.md",
            caption="../report/saliency_claims.rst",
            category="Saliency",
            labels={"table": "paper claims"},
        ),
    log:
        "logs/saliency_tables.log",
    conda:
        "../../envs/theory.yaml"
    threads: 1
    params:
        objectives=saliency_objectives(),
        code=CODE["saliency_tables"],
    script:
        "../scripts/saliency_tables.py"


rule saliency_figure:
    input:
        arrays=saliency_figure_arrays(),
        alignment="results/mnist/saliency/alignment.csv",
        judge="results/mnist/saliency/judge.csv",
        linear_arrays="results/mnist/saliency/linear/weights.npz",
        linear_table="results/mnist/saliency/linear/accuracy.csv",
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
        kind="|".join(SALIENCY_FIGURES),
    conda:
        "../../envs/plots.yaml"
    threads: 1
    params:
        kind="{kind}",
        models=list(SALIENCY["models"]["recipes"]),
        filters=canonical(SALIENCY["filters"]),
        style=plot_style(),
        code=CODE["saliency_figures"],
    script:
        "../scripts/saliency_figure.py"


rule saliency:
    input:
        saliency_outputs(),
