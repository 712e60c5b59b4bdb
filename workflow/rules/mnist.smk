# MNIST stage (paper Sections 3-4): data -> adversarial training -> attack evaluation -> tables.


rule mnist_data:
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
        data=mnist_data_params(),
        code=CODE["mnist_data"],
    script:
        "../scripts/mnist_data.py"


rule mnist_train:
    input:
        data="results/mnist/data.npz",
    output:
        weights="results/mnist/models/{recipe}/n~{size}/seed~{seed}/weights.safetensors",
        history="results/mnist/models/{recipe}/n~{size}/seed~{seed}/history.json",
    log:
        "logs/mnist_train/{recipe}/n~{size}/seed~{seed}.log",
    benchmark:
        "benchmarks/mnist_train/{recipe}/n~{size}/seed~{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=mnist_gpus(),
    params:
        recipe=recipe_params,
        runtime=mnist_runtime(),
        checkpoints="resources/checkpoints/mnist/{recipe}/n~{size}/seed~{seed}",
        code=CODE["mnist_train"],
    script:
        "../scripts/mnist_train.py"


rule mnist_eval:
    input:
        data="results/mnist/data.npz",
        weights="results/mnist/models/{recipe}/n~{size}/seed~{seed}/weights.safetensors",
        source=transfer_source,
    output:
        table="results/mnist/eval/{recipe}/n~{size}/seed~{seed}.csv",
        sanity="results/mnist/eval/{recipe}/n~{size}/seed~{seed}.sanity.json",
    log:
        "logs/mnist_eval/{recipe}/n~{size}/seed~{seed}.log",
    benchmark:
        "benchmarks/mnist_eval/{recipe}/n~{size}/seed~{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=mnist_gpus(),
    params:
        evaluation=mnist_eval_params(),
        runtime=mnist_runtime(),
        code=CODE["mnist_eval"],
    script:
        "../scripts/mnist_eval.py"


rule mnist_tables:
    input:
        tables=mnist_eval_files("csv"),
        sanity=mnist_eval_files("sanity.json"),
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
        paper_md=report(
            "results/mnist/paper_comparison.md",
            caption="../report/mnist_paper.rst",
            category="MNIST",
            labels={"table": "paper comparison"},
        ),
        claims="results/mnist/claims.csv",
        claims_md=report(
            "results/mnist/claims.md",
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
        recipes=mnist_recipe_table(),
        compare=mnist_compare(),
        code=CODE["mnist_tables"],
    script:
        "../scripts/mnist_tables.py"


rule mnist_figure:
    input:
        summary="results/mnist/robustness_summary.csv",
        recipes="results/mnist/recipes.csv",
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
        frontier=mnist_frontier(),
        style=plot_style(),
        code=CODE["mnist_figures"],
    script:
        "../scripts/mnist_figure.py"


rule mnist:
    input:
        mnist_outputs(),


# Snakemake keeps a corrupt model file that is not older than its inputs, and does not rebuild a
# removed one while what was made from it is up to date: stop first, naming each such file and the
# command that rebuilds it (tradeoff.nets.integrity; header and size only, cheap).
from tradeoff.nets.integrity import corrupt_weights_message, model_files  # noqa: E402

if workflow.is_main_process:
    _corrupt = corrupt_weights_message(model_files("results/mnist"), sys.argv)
    if _corrupt:
        raise WorkflowError(_corrupt)
