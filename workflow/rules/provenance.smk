# Provenance: one manifest per run, tying every table to the config, commit and software that made it.


rule provenance:
    input:
        tables=plan.tables(stage_targets()),
        data=plan.data_files(CONFIG, REPO),
    output:
        json="results/provenance.json",
        md=report(
            "results/provenance.md",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"table": "provenance"},
        ),
    log:
        "logs/provenance.log",
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        config=report_safe_json(CONFIG),
        code=CODE["provenance"],
        stage_code=CODE,
    script:
        "../scripts/provenance.py"
