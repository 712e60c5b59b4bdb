import _adapter
from tradeoff.stages.provenance import write_provenance

_adapter.setup(snakemake)
write_provenance(list(snakemake.input.tables), snakemake.output.json, snakemake.output.md, config=snakemake.params.config,
                 data=list(snakemake.input.data), code=dict(snakemake.params.stage_code))
