# Theory stage (paper Section 2): sample D(p, eta, d), fit standard and robust SVMs, evaluate.


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
        point=point_params,
        seeds=THEORY["seeds"],
        code=CODE["sample"],
    script:
        "../scripts/theory_sample.py"


rule theory_fit:
    input:
        samples="results/theory/samples/p~{p}_d~{d}_eta~{eta}_n~{n}_m~{m}.npz",
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
        fit=fit_params,
        code=CODE["fit"],
    script:
        "../scripts/theory_fit.py"


rule theory_evaluate:
    input:
        samples=sweep_samples,
        fits=sweep_fit_files,
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
        evaluate=evaluate_params,
        code=CODE["evaluate"],
    script:
        "../scripts/theory_evaluate.py"


rule theory_merge:
    input:
        expand("results/theory/metrics/{sweep}.csv", sweep=SWEEPS),
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
        metrics="results/theory/metrics.csv",
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
        metrics="results/theory/metrics.csv",
        frontier="results/theory/frontier.csv",
    output:
        claims="results/theory/claims.csv",
        claims_md=report(
            "results/theory/claims.md",
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
