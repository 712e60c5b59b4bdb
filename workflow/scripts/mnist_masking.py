import _adapter
from tradeoff.stages.mnist_masking import evaluate_masking

_adapter.setup(snakemake)
evaluate_masking(
    snakemake.input.data,
    snakemake.input.weights,
    snakemake.output[0],
    recipe_name=snakemake.wildcards.recipe,
    size=int(snakemake.wildcards.size),
    seed=int(snakemake.wildcards.seed),
    **snakemake.params.masking,
)
