import _adapter
from tradeoff.workflow.report_html import write_html
from tradeoff.stages.claims_reference import write_beside

_adapter.setup(snakemake)
write_beside(
    dict(snakemake.params.ours),
    snakemake.params.reference,
    snakemake.output.csv,
    snakemake.output.md,
    recipes=snakemake.params.recipes,
)
write_html(snakemake.output.md, snakemake.output.html, "Claims beside the paper-grade run")
