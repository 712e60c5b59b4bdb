import _adapter
from tradeoff.stages.saliency_figures import saliency_figure

_adapter.setup(snakemake)
saliency_figure(
    snakemake.input,
    [snakemake.output.png, snakemake.output.pdf],
    kind=snakemake.params.kind,
    models=snakemake.params.models,
    recipes=snakemake.params.recipes,
    filters=snakemake.params.filters,
    style=snakemake.params.style,
)
