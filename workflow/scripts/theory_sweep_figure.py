import _adapter
from tradeoff.stages.figures import theory_sweep_figure

_adapter.setup(snakemake)
theory_sweep_figure(
    snakemake.input.metrics,
    [snakemake.output.png, snakemake.output.pdf],
    axis=snakemake.params.axis,
    eps_test=snakemake.params.eps_test,
    style=snakemake.params.style,
)
