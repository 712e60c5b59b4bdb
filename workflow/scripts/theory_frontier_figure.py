import _adapter
from tradeoff.stages.figures import theory_frontier_figure

_adapter.setup(snakemake)
theory_frontier_figure(
    snakemake.input.metrics,
    snakemake.input.frontier,
    [snakemake.output.png, snakemake.output.pdf],
    sweep=snakemake.params.sweep,
    eps_test=snakemake.params.eps_test,
    style=snakemake.params.style,
)
