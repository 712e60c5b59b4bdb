import _adapter
from tradeoff.stages.figures import theory_figure

_adapter.setup(snakemake)
theory_figure(
    snakemake.input.metrics,
    [snakemake.output.png, snakemake.output.pdf],
    kind=snakemake.params.kind,
    eps_test=snakemake.params.eps_test,
    style=snakemake.params.style,
)
