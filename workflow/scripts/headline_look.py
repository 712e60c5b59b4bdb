import _adapter
from tradeoff.stages.headline import look_at_chosen

_adapter.setup(snakemake)
look_at_chosen(
    snakemake.input.data,
    snakemake.input.selection,
    snakemake.input.weights,
    snakemake.output.json,
    **snakemake.params.look,
)
