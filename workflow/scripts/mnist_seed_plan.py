import _adapter
from tradeoff.stages.mnist_seed_plan import write_seed_plan

_adapter.setup(snakemake)
write_seed_plan(snakemake.input.data, list(snakemake.input.weights), list(snakemake.input.histories),
                snakemake.output.scores, snakemake.output.csv, snakemake.output.md,
                settings=snakemake.params.settings, standard=snakemake.params.standard)
