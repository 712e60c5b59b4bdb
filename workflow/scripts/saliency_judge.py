import _adapter
from tradeoff.stages.saliency import train_judge

_adapter.setup(snakemake)
train_judge(
    snakemake.input.data,
    snakemake.output.weights,
    snakemake.output.history,
    size=snakemake.params.size,
    seed=int(snakemake.wildcards.seed),
    judge=snakemake.params.judge,
    checkpoint_dir=snakemake.params.checkpoints,
    role=snakemake.params.get("role", "judge"),
    **snakemake.params.runtime,
)
