"""MNIST classifiers: inputs (N, 1, 28, 28) in [0, 1], outputs logits (N, 10).

All initialisation is PyTorch's default, so ``torch.manual_seed(s); build_model(name)`` is
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["MLP", "MODEL_NAMES", "MadryCNN", "SmallCNN", "TradesCNN", "WongNet", "build_model",
           "count_parameters"]

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


class WongNet(nn.Module):
    """The MNIST network of Wong, Rice and Kolter (2020, "Fast is better than free"):
    conv 16 4x4 stride 2 -> conv 32 4x4 stride 2 -> fc 100 -> fc 10 (166,406 parameters)."""

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 16, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 100),
            nn.ReLU(),
            nn.Linear(100, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, 1, 28, 28) images."""
        return self.layers(x)


class TradesCNN(nn.Module):
    """TRADES' MNIST SmallCNN (Zhang et al. 2019, ``models/small_cnn.py``): conv32-conv32-pool-
    conv64-conv64-pool (3x3, no padding), fc200-dropout(0.5)-fc200-fc10, with its initialisation
    (Kaiming-normal convolutions, zero biases, a zero last layer); 312,202 parameters.

    It has dropout, so attacks must run it in eval mode (ours do, :func:`attacks.eval_mode`).
    """

    def __init__(self, drop: float = 0.5, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 200), nn.ReLU(), nn.Dropout(drop),
            nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, n_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.classifier[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, 1, 28, 28) images."""
        return self.classifier(self.features(x))


_REGISTRY: dict[str, Callable[[], nn.Module]] = {
    "madry": MadryCNN,
    "small": SmallCNN,
    "mlp": MLP,
    "wong": WongNet,
    "trades": TradesCNN,
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
