import _adapter
from tradeoff.stages.mnist_data import prepare_mnist

_adapter.setup(snakemake)
prepare_mnist(snakemake.output[0], **snakemake.params.data)
