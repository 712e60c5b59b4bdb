"""MNIST classifiers: inputs (N, 1, 28, 28) in [0, 1], outputs logits (N, 10).

All initialisation is PyTorch's default, so ``torch.manual_seed(s); build_model(name)`` is
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["MLP", "MODEL_NAMES", "MadryCNN", "SmallCNN", "build_model", "count_parameters"]

N_CLASSES = 10


class _ConvNet(nn.Module):
    """conv5x5(c1)-ReLU-pool2 -> conv5x5(c2)-ReLU-pool2 -> fc(hidden)-ReLU -> fc(10)."""

    def __init__(self, c1: int, c2: int, hidden: int, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, 1, 28, 28) images."""
        return self.classifier(self.features(x))


class MadryCNN(_ConvNet):
    """The MNIST network of Madry et al. (2018): conv 32 -> conv 64 -> fc 1024 -> fc 10.

    5x5 convolutions with padding 2 ("SAME"), 2x2 max pooling; 3,274,634 parameters.
    """

    def __init__(self) -> None:
        super().__init__(32, 64, 1024)


class SmallCNN(_ConvNet):
    """A CPU-sized variant of :class:`MadryCNN`: conv 16 -> conv 32 -> fc 128 -> fc 10."""

    def __init__(self) -> None:
        super().__init__(16, 32, 128)


class MLP(nn.Module):
    """Fully connected ReLU network 784 -> hidden... -> 10 (a differently-built "judge" model)."""

    def __init__(self, hidden: tuple[int, ...] = (512, 256), n_classes: int = N_CLASSES) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = 28 * 28
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, 1, 28, 28) images."""
        return self.net(x)


_REGISTRY: dict[str, Callable[[], nn.Module]] = {
    "madry": MadryCNN,
    "small": SmallCNN,
    "mlp": MLP,
}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def build_model(name: str) -> nn.Module:
    """Build a freshly initialised model by name ("madry", "small" or "mlp")."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}"
        ) from None
    return factory()


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
