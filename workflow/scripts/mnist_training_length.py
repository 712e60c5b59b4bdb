import _adapter
from tradeoff.stages.mnist_training_length import write_length_table

_adapter.setup(snakemake)
write_length_table(list(snakemake.input.histories), snakemake.output.csv, snakemake.output.md)
