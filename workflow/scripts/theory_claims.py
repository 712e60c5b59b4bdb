import _adapter
from tradeoff.workflow.report_html import write_html
from tradeoff.stages.evaluate import claims_stage

_adapter.setup(snakemake)
claims_stage(
    snakemake.input.metrics,
    snakemake.input.frontier,
    {k: snakemake.output[k] for k in ("claims", "claims_md", "theorem_2_2")},
    eps_test=snakemake.params.eps_test,
)
write_html(snakemake.output.claims_md, snakemake.output.claims_html, "Theory claims")
