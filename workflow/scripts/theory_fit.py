import _adapter
from tradeoff.stages.fit import fit_point

_adapter.setup(snakemake)
fit_point(snakemake.input.samples, snakemake.output[0], **snakemake.params.fit)
