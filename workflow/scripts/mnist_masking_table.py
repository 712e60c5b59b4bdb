import _adapter
from tradeoff.stages.mnist_masking_table import write_masking_table

_adapter.setup(snakemake)
write_masking_table(
    list(snakemake.input.records),
    snakemake.output.csv,
    snakemake.output.md,
    **snakemake.params.table,
)
