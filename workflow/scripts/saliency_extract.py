import _adapter
from tradeoff.stages.saliency import extract

_adapter.setup(snakemake)
extract(
    snakemake.input.data,
    snakemake.input.weights,
    snakemake.input.judge,
    snakemake.output,
    recipe=snakemake.wildcards.recipe,
    size=int(snakemake.wildcards.size),
    seed=int(snakemake.wildcards.seed),
    robust_judge_weights=snakemake.input.robust_judge,
    device=snakemake.params.device,
    expect=snakemake.params.expect,
    **snakemake.params.spec,
)
