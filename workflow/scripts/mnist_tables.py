import _adapter
from tradeoff.workflow.report_html import write_html
from tradeoff.stages.mnist_tables import write_tables

_adapter.setup(snakemake)
write_tables(
    list(snakemake.input.tables),
    list(snakemake.input.sanity),
    list(snakemake.input.outcomes),
    snakemake.output,
    recipes=snakemake.params.recipes,
    trained=snakemake.params.trained,
    **snakemake.params.compare,
    masking=snakemake.input.masking[0] if snakemake.input.masking else None,
)
write_html(snakemake.output.claims_md, snakemake.output.claims_html, "MNIST claims")
write_html(snakemake.output.paper_md, snakemake.output.paper_html, "MNIST beside the published models")
