import _adapter
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
)
