"""Image classifiers: inputs (N, C, H, W) in [0, 1], outputs logits (N, n_classes).

The shape comes from the dataset's :class:`tradeoff.datasets.spec.ImageSpec` (default MNIST:
1 x 28 x 28, 10 classes). All initialisation is PyTorch's default, so
``torch.manual_seed(s); build_model(name)`` is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tradeoff.datasets.spec import MNIST, ImageSpec

__all__ = ["MLP", "MODEL_NAMES", "MadryCNN", "SmallCNN", "build_model", "count_parameters"]


class _ConvNet(nn.Module):
    """conv5x5(c1)-ReLU-pool2 -> conv5x5(c2)-ReLU-pool2 -> fc(hidden)-ReLU -> fc(n_classes)."""

    def __init__(self, c1: int, c2: int, hidden: int, spec: ImageSpec = MNIST) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(spec.channels, c1, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * (spec.height // 4) * (spec.width // 4), hidden),
            nn.ReLU(),
            nn.Linear(hidden, spec.n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, C, H, W) images."""
        return self.classifier(self.features(x))


class MadryCNN(_ConvNet):
    """The MNIST network of Madry et al. (2018): conv 32 -> conv 64 -> fc 1024 -> fc 10.

    5x5 convolutions with padding 2 ("SAME"), 2x2 max pooling; 3,274,634 parameters.
    """

    def __init__(self, spec: ImageSpec = MNIST) -> None:
        super().__init__(32, 64, 1024, spec)


class SmallCNN(_ConvNet):
    """A CPU-sized variant of :class:`MadryCNN`: conv 16 -> conv 32 -> fc 128 -> fc 10."""

    def __init__(self, spec: ImageSpec = MNIST) -> None:
        super().__init__(16, 32, 128, spec)


class MLP(nn.Module):
    """Fully connected ReLU network C*H*W -> hidden... -> n_classes (a differently-built "judge")."""

    def __init__(self, spec: ImageSpec = MNIST, hidden: tuple[int, ...] = (512, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = spec.pixels
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, spec.n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, C, H, W) images."""
        return self.net(x)


_REGISTRY: dict[str, Callable[[ImageSpec], nn.Module]] = {
    "madry": MadryCNN,
    "small": SmallCNN,
    "mlp": MLP,
}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def build_model(name: str, spec: ImageSpec = MNIST) -> nn.Module:
    """Build a freshly initialised model by name ("madry", "small" or "mlp") for images of
    ``spec``'s shape and class count."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}"
        ) from None
    return factory(spec)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
