"""What the rest of the package needs to know about an image dataset: its image shape and class count.

Networks (:func:`tradeoff.nets.models.build_model`), training
(:func:`tradeoff.adversarial.training.train`) and the image helpers
(:func:`tradeoff.datasets.images.as_images`) read these from an :class:`ImageSpec` instead of
constants, so a second image dataset is one module (its loader, next to
:mod:`tradeoff.datasets.mnist`) plus one entry of :data:`DATASETS` (and its config section).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DATASETS", "MNIST", "ImageSpec", "dataset_spec"]


@dataclass(frozen=True)
class ImageSpec:
    """An image dataset's shape: images ``(channels, height, width)`` in [0, 1], labels
    ``0 .. n_classes - 1``."""

    name: str
    channels: int
    height: int
    width: int
    n_classes: int

    def __post_init__(self) -> None:
        for f in ("channels", "height", "width", "n_classes"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"ImageSpec.{f}: must be an int >= 1 (got {v!r})")
        if self.n_classes < 2:
            raise ValueError(f"ImageSpec.n_classes: must be >= 2 (got {self.n_classes})")

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's tensor shape ``(C, H, W)``."""
        return (self.channels, self.height, self.width)

    @property
    def pixels(self) -> int:
        """Numbers per image, ``C * H * W``."""
        return self.channels * self.height * self.width


MNIST = ImageSpec("mnist", channels=1, height=28, width=28, n_classes=10)
DATASETS: dict[str, ImageSpec] = {"mnist": MNIST}


def dataset_spec(name: str) -> ImageSpec:
    """The registered spec of dataset ``name``."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None
