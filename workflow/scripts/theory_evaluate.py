import _adapter
from tradeoff.stages.evaluate import evaluate_sweep

_adapter.setup(snakemake)
evaluate_sweep(
    list(snakemake.input.samples), list(snakemake.input.fits), snakemake.output[0], **snakemake.params.evaluate
)
