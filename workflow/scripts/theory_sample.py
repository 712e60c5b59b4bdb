import _adapter
from tradeoff.stages.sample import sample_point

_adapter.setup(snakemake)
pt = snakemake.params.point
sample_point(
    snakemake.output[0],
    slug=pt["slug"],
    p=pt["p"],
    d=pt["d"],
    eta=pt["eta"],
    n_train=pt["n_train"],
    n_test=pt["n_test"],
    seeds=snakemake.params.seeds,
)
