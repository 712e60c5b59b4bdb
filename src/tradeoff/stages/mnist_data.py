"""Stage: load MNIST from the configured source, validate it, and write it as one npz file."""

from __future__ import annotations

import logging

from tradeoff.datasets.mnist import load_mnist, save_npz

log = logging.getLogger(__name__)


def prepare_mnist(output: str, *, source: str, path: str | None, cache_dir: str | None, test_fraction: float,
                  split_seed: int, validation: int = 0) -> None:
    """Validated MNIST (uint8 images, int64 labels) from ``source`` into ``output``, with
    ``validation`` training images held out (seeded by ``split_seed``)."""
    data = load_mnist(source, path=path, cache_dir=cache_dir, test_fraction=test_fraction, seed=split_seed,
                      validation=validation)
    log.info("%s: %d training, %d validation, %d test images (%s)", source, len(data.y_train),
             len(data.y_val), len(data.y_test), data.description)
    save_npz(data, output)
