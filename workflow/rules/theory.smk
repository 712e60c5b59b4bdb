# Theory stage (paper Section 2): sample D(p, eta, d), fit standard and robust SVMs, evaluate, draw.


rule theory_sample:
    output:
        "results/theory/samples/p~{p}_d~{d}_eta~{eta}_n~{n}_m~{m}.npz",
    log:
        "logs/theory_sample/p~{p}_d~{d}_eta~{eta}_n~{n}_m~{m}.log",
    benchmark:
        "benchmarks/theory_sample/p~{p}_d~{d}_eta~{eta}_n~{n}_m~{m}.tsv"
    group:
        "theory"
    conda:
        "../../envs/theory.yaml"
    threads: 1
    params:
        point=plan.point_params,
        seeds=THEORY["seeds"],
        code=CODE["sample"],
    script:
        "../scripts/theory_sample.py"


rule theory_fit:
    input:
        samples=rules.theory_sample.output[0],
    output:
        "results/theory/fits/p~{p}_d~{d}_eta~{eta}_n~{n}_m~{m}/C~{C}/{model}.json",
    log:
        "logs/theory_fit/p~{p}_d~{d}_eta~{eta}_n~{n}_m~{m}/C~{C}/{model}.log",
    benchmark:
        "benchmarks/theory_fit/p~{p}_d~{d}_eta~{eta}_n~{n}_m~{m}/C~{C}/{model}.tsv"
    group:
        "theory"
    conda:
        "../../envs/theory.yaml"
    threads: 1
    params:
        fit=lambda w: plan.fit_params(CONFIG, w),
        code=CODE["fit"],
    script:
        "../scripts/theory_fit.py"


rule theory_evaluate:
    input:
        samples=lambda w: expand(
            rules.theory_sample.output[0], zip, **plan.sweep_sample_columns(CONFIG, w.sweep)
        ),
        fits=lambda w: expand(
            rules.theory_fit.output[0], zip, **plan.sweep_fit_columns(CONFIG, w.sweep)
        ),
    output:
        "results/theory/metrics/{sweep}.csv",
    log:
        "logs/theory_evaluate/{sweep}.log",
    benchmark:
        "benchmarks/theory_evaluate/{sweep}.tsv"
    conda:
        "../../envs/theory.yaml"
    threads: 1
    params:
        evaluate=lambda w: plan.evaluate_params(CONFIG, w.sweep),
        code=CODE["evaluate"],
    script:
        "../scripts/theory_evaluate.py"


rule theory_merge:
    input:
        expand(rules.theory_evaluate.output[0], sweep=plan.theory_sweeps(CONFIG)),
    output:
        report(
            "results/theory/metrics.csv",
            caption="../report/theory_metrics.rst",
            category="Theory",
            labels={"table": "all sweeps"},
        ),
    log:
        "logs/theory_merge.log",
    localrule: True
    conda:
        "../../envs/theory.yaml"
    params:
        code=CODE["evaluate"],
    script:
        "../scripts/theory_merge.py"


rule theory_frontier:
    input:
        metrics=rules.theory_merge.output[0],
    output:
        "results/theory/frontier.csv",
    log:
        "logs/theory_frontier.log",
    benchmark:
        "benchmarks/theory_frontier.tsv"
    conda:
        "../../envs/theory.yaml"
    threads: 1
    params:
        eps_test=THEORY["figures"]["bound_eps_test"],
        code=CODE["evaluate"],
    script:
        "../scripts/theory_frontier.py"


rule theory_claims:
    input:
        metrics=rules.theory_merge.output[0],
        frontier=rules.theory_frontier.output[0],
    output:
        claims="results/theory/claims.csv",
        claims_md="results/theory/claims.md",
        claims_html=report(
            "results/theory/claims.html",
            caption="../report/theory_claims.rst",
            category="Theory",
            labels={"table": "theory claims"},
        ),
        theorem_2_2="results/theory/theorem_2_2.csv",
    log:
        "logs/theory_claims.log",
    localrule: True
    conda:
        "../../envs/theory.yaml"
    params:
        eps_test=THEORY["figures"]["bound_eps_test"],
        code=CODE["evaluate"],
    script:
        "../scripts/theory_claims.py"


# Figures (seaborn, PNG and PDF). Figures only draw tidy tables; they never compute science.


rule theory_figure:
    input:
        metrics=expand(rules.theory_evaluate.output[0], sweep=THEORY["figures"]["tradeoff_sweep"])[
            0
        ],
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
        kind="|".join(plan.THEORY_FIGURES),
    conda:
        "../../envs/plots.yaml"
    threads: 1
    params:
        kind="{kind}",
        eps_test=THEORY["figures"]["bound_eps_test"],
        style=STYLE,
        code=CODE["figures"],
    script:
        "../scripts/theory_figure.py"


rule theory_sweep_figure:
    input:
        metrics=rules.theory_evaluate.output[0],
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
        axis=lambda w: plan.sweep_figure_axis(CONFIG, w.sweep),
        eps_test=THEORY["figures"]["bound_eps_test"],
        style=STYLE,
        code=CODE["figures"],
    script:
        "../scripts/theory_sweep_figure.py"


rule theory_frontier_figure:
    input:
        metrics=rules.theory_merge.output[0],
        frontier=rules.theory_frontier.output[0],
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
        style=STYLE,
        code=CODE["figures"],
    script:
        "../scripts/theory_frontier_figure.py"


rule theory:
    input:
        rules.theory_merge.output,
        rules.theory_frontier.output,
        rules.theory_claims.output,
        rules.theory_frontier_figure.output,
        expand(rules.theory_figure.output, kind=plan.THEORY_FIGURES),
        expand(rules.theory_sweep_figure.output, sweep=THEORY["figures"]["axis_sweeps"]),
