import _adapter
from tradeoff.stages.headline_trials import validate_trial

_adapter.setup(snakemake)
validate_trial(
    snakemake.input.data,
    snakemake.input.weights,
    snakemake.input.history,
    snakemake.output.json,
    trial=snakemake.wildcards.trial,
    code={"headline_trials": snakemake.params.code},
    **snakemake.params.validation,
)
