import _adapter
from tradeoff.stages.claims_reference import write_beside

_adapter.setup(snakemake)
write_beside(
    dict(snakemake.params.ours),
    snakemake.params.reference,
    snakemake.output.csv,
    snakemake.output.md,
)
