import _adapter
from tradeoff.stages.mnist_figures import mnist_figure

_adapter.setup(snakemake)
mnist_figure(
    snakemake.input.merged,
    snakemake.input.recipes,
    [snakemake.output.png, snakemake.output.pdf],
    kind=snakemake.params.kind,
    frontier=snakemake.params.frontier,
    style=snakemake.params.style,
)
