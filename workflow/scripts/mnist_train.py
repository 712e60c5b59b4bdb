import _adapter
from tradeoff.stages.mnist_train import train_model

_adapter.setup(snakemake)
train_model(
    snakemake.input.data,
    snakemake.output.weights,
    snakemake.output.history,
    recipe_name=snakemake.wildcards.recipe,
    recipe=snakemake.params.recipe,
    size=int(snakemake.wildcards.size),
    seed=int(snakemake.wildcards.seed),
    checkpoint_dir=snakemake.params.checkpoints,
    **snakemake.params.runtime,
)
