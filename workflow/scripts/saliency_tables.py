import _adapter
from tradeoff.workflow.report_html import write_html
from tradeoff.stages.saliency_tables import write_tables

_adapter.setup(snakemake)
write_tables(
    list(snakemake.input.alignment),
    list(snakemake.input.large_eps),
    list(snakemake.input.filters),
    list(snakemake.input.judges),
    snakemake.input.linear,
    snakemake.output,
    objectives=snakemake.params.objectives,
    norms=snakemake.params.norms,
    panel=list(snakemake.input.panel),
    robust_judges=list(snakemake.input.robust_judges),
    linear_arrays=snakemake.input.linear_arrays,
    interpolation=list(snakemake.input.interpolation),
    recipes=snakemake.params.recipes,
)
write_html(snakemake.output.claims_md, snakemake.output.claims_html, "Saliency claims")
