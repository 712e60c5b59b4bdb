import _adapter
from tradeoff.stages.headline_trials import train_trial

_adapter.setup(snakemake)
train_trial(
    snakemake.input.data,
    snakemake.output.weights,
    snakemake.output.history,
    trial=snakemake.wildcards.trial,
    recipe=snakemake.params.recipe,
)
