import _adapter
from tradeoff.stages.mnist_eval import evaluate_model

_adapter.setup(snakemake)
evaluate_model(
    snakemake.input.data,
    snakemake.input.weights,
    snakemake.input.source,
    snakemake.output.table,
    snakemake.output.sanity,
    outcomes=snakemake.output.outcomes,
    recipe_name=snakemake.wildcards.recipe,
    size=int(snakemake.wildcards.size),
    seed=int(snakemake.wildcards.seed),
    **snakemake.params.evaluation,
    **snakemake.params.models,
    **snakemake.params.runtime,
)
