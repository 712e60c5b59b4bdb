"""Image classifiers: inputs (N, C, H, W) in [0, 1], outputs logits (N, n_classes).

The shape comes from the dataset's :class:`tradeoff.datasets.spec.ImageSpec` (default MNIST:
1 x 28 x 28, 10 classes). Initialisation is PyTorch's default (TradesCNN: its reference code's),
so ``torch.manual_seed(s); build_model(name)`` is deterministic; ``build_model(name, init="madry")``
re-initialises every convolution and linear layer as Madry et al.'s MNIST code does
(:func:`madry_init`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from tradeoff.datasets.spec import MNIST, ImageSpec

__all__ = ["INITS", "MLP", "MODEL_NAMES", "MadryCNN", "SmallCNN", "TradesCNN", "WongNet", "build_model",
           "count_parameters", "madry_init"]


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


class WongNet(nn.Module):
    """The MNIST network of Wong, Rice and Kolter (2020, "Fast is better than free"):
    conv 16 4x4 stride 2 -> conv 32 4x4 stride 2 -> fc 100 -> fc 10 (166,406 parameters)."""

    def __init__(self, spec: ImageSpec = MNIST) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(spec.channels, 16, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * (spec.height // 4) * (spec.width // 4), 100),
            nn.ReLU(),
            nn.Linear(100, spec.n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, C, H, W) images."""
        return self.layers(x)


class TradesCNN(nn.Module):
    """TRADES' MNIST SmallCNN (Zhang et al. 2019, ``models/small_cnn.py``): conv32-conv32-pool-
    conv64-conv64-pool (3x3, no padding), fc200-dropout(0.5)-fc200-fc10, with its initialisation
    (Kaiming-normal convolutions, zero biases, a zero last layer); 312,202 parameters.

    It has dropout, so attacks must run it in eval mode (ours do, :func:`attacks.eval_mode`).
    """

    def __init__(self, spec: ImageSpec = MNIST, drop: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(spec.channels, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * self._side(spec.height) * self._side(spec.width), 200),
            nn.ReLU(), nn.Dropout(drop), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, spec.n_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(cast(torch.Tensor, m.bias))  # built with a bias
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        nn.init.zeros_(cast(nn.Linear, self.classifier[-1]).weight)

    @staticmethod
    def _side(n: int) -> int:
        """A side's length after conv3-conv3-pool2 twice (no padding): 28 -> 4."""
        side = ((n - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"TradesCNN needs images of at least 16 pixels a side, got {n}")
        return side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of (N, C, H, W) images."""
        return self.classifier(self.features(x))


_REGISTRY: dict[str, Callable[[ImageSpec], nn.Module]] = {
    "madry": MadryCNN,
    "small": SmallCNN,
    "mlp": MLP,
    "wong": WongNet,
    "trades": TradesCNN,
}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


INITS: tuple[str, ...] = ("torch", "madry")
"""Initialisations: ``torch`` (each layer's default), ``madry`` (:func:`madry_init`)."""


def madry_init(model: nn.Module) -> nn.Module:
    """Madry et al.'s MNIST initialisation, in place: every ``Conv2d`` and ``Linear`` weight from a
    normal of std 0.1 truncated at two standard deviations (TensorFlow's ``truncated_normal``), every
    bias 0.1. Draws from torch's global RNG (seed it first). Returns ``model``."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.1, a=-0.2, b=0.2)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0.1)
    return model


def build_model(name: str, spec: ImageSpec = MNIST, init: str = "torch") -> nn.Module:
    """Build a freshly initialised model by name (:data:`MODEL_NAMES`) for images of
    ``spec``'s shape and class count, initialised by ``init`` (:data:`INITS`)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}"
        ) from None
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    model = factory(spec)
    return madry_init(model) if init == "madry" else model


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
