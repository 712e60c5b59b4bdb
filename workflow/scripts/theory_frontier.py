import _adapter
from tradeoff.stages.evaluate import frontier_stage

_adapter.setup(snakemake)
frontier_stage(snakemake.input.metrics, snakemake.output[0], eps_test=snakemake.params.eps_test)
