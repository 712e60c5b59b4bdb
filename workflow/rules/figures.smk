# Figures (seaborn, PNG and PDF). Figures only draw tidy tables; they never compute science.


rule theory_figure:
    input:
        metrics=tradeoff_metrics(),
    output:
        png=report(
            "results/figures/theory_{kind}.png",
            caption="../report/theory_figure.rst",
            category="Theory",
            labels={"figure": "{kind}"},
        ),
        pdf="results/figures/theory_{kind}.pdf",
    log:
        "logs/theory_figure/{kind}.log",
    wildcard_constraints:
        kind="bound|eps_train|weight_share|closed_form",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    params:
        kind="{kind}",
        eps_test=THEORY["figures"]["bound_eps_test"],
        style=plot_style(),
        code=CODE["figures"],
    script:
        "../scripts/theory_figure.py"


rule theory_sweep_figure:
    input:
        metrics="results/theory/metrics/{sweep}.csv",
    output:
        png=report(
            "results/figures/theory_sweep_{sweep}.png",
            caption="../report/theory_sweep.rst",
            category="Theory",
            labels={"figure": "sweep {sweep}"},
        ),
        pdf="results/figures/theory_sweep_{sweep}.pdf",
    log:
        "logs/theory_sweep_figure/{sweep}.log",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    params:
        axis=axis_of_sweep,
        eps_test=THEORY["figures"]["bound_eps_test"],
        style=plot_style(),
        code=CODE["figures"],
    script:
        "../scripts/theory_sweep_figure.py"


rule theory:
    input:
        theory_outputs(),


rule theory_frontier_figure:
    input:
        metrics="results/theory/metrics.csv",
        frontier="results/theory/frontier.csv",
    output:
        png=report(
            "results/figures/theory_frontier.png",
            caption="../report/theory_frontier.rst",
            category="Theory",
            labels={"figure": "frontier"},
        ),
        pdf="results/figures/theory_frontier.pdf",
    log:
        "logs/theory_frontier_figure.log",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    params:
        sweep=THEORY["figures"]["tradeoff_sweep"],
        eps_test=THEORY["figures"]["bound_eps_test"],
        style=plot_style(),
        code=CODE["figures"],
    script:
        "../scripts/theory_frontier_figure.py"
