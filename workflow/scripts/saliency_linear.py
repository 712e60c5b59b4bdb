import _adapter
from tradeoff.stages.saliency_linear import linear_classifiers

_adapter.setup(snakemake)
linear_classifiers(
    snakemake.input.data,
    snakemake.output.arrays,
    snakemake.output.table,
    **snakemake.params.linear,
)
