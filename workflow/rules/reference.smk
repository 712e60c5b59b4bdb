# This run's claims beside the committed paper-grade verdicts (reference_results): flagged, not forced.


rule claims_reference:
    input:
        ours=list(plan.reference_claims(CONFIG).values()),
        reference=plan.reference_files(CONFIG),
    output:
        csv="results/claims_beside_paper_grade.csv",
        md="results/claims_beside_paper_grade.md",
        html=report(
            "results/claims_beside_paper_grade.html",
            caption="../report/claims_reference.rst",
            category="Claims",
            labels={"table": "beside the paper-grade run"},
        ),
    log:
        "logs/claims_reference.log",
    localrule: True
    conda:
        "../../envs/theory.yaml"
    params:
        ours=plan.reference_claims(CONFIG),
        # the folder of the committed tables, from the inputs where they exist (a function, so that
        # --lint does not take the folder for a hard-coded prefix of the inputs)
        reference=lambda w, input: plan.reference_dir(CONFIG, input.reference),
        recipes=plan.mnist_recipe_table(CONFIG),
        code=CODE["claims_reference"],
    script:
        "../scripts/claims_reference.py"
