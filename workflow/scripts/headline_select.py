import _adapter
from tradeoff.stages.headline_trials import select_headline

_adapter.setup(snakemake)
select_headline(
    list(snakemake.input.records),
    list(snakemake.input.weights),
    snakemake.output.json,
    snakemake.output.weights,
    model=snakemake.wildcards.headline,
    rule=snakemake.params.rule,
)
