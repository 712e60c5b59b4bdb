import _adapter
from tradeoff.stages.evaluate import merge_tables

_adapter.setup(snakemake)
merge_tables(list(snakemake.input), snakemake.output[0])
