"""The models of the paper's real-world experiments (Reddi, Kale & Kumar, ICLR 2018, §5).

Each is an `nn.Module` built as `Model(input_shape, classes, **options)` (the `task.model` node
gives `_target_` and the options; the dataset gives the shape and the number of classes) and
returns logits; the loss is the cross-entropy. PyTorch's default initialisation throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

from torch import Tensor, nn


class LogisticRegression(nn.Module):
    """Multiclass logistic regression: softmax(W·x + b) over the flattened image."""

    def __init__(self, input_shape: Sequence[int], classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(prod(input_shape), classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))


class MLP(nn.Module):
    """One fully connected hidden layer of ReLU units (the paper: 100), then the softmax layer."""

    def __init__(self, input_shape: Sequence[int], classes: int, hidden: int = 100) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(prod(input_shape), hidden),
            nn.ReLU(),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class CifarNet(nn.Module):
    """CIFARNET as the paper describes it, laid out as TensorFlow-Slim's `cifarnet`:

    conv(channels, kernel×kernel, TensorFlow's 'SAME' padding) → ReLU → max-pool 2×2 → LRN
    → conv(channels, kernel×kernel, 'same') → ReLU → LRN → max-pool 2×2
    → fc(fc1) → ReLU → dropout(p) → fc(fc2) → ReLU → fc(classes).

    The paper: 64 channels, 6×6 kernels, 2×2 max pooling, local response normalisation, fully
    connected layers of 384 and 192 units, dropout with keep probability 0.5 between them. The LRN
    is Slim's (depth radius 4, bias 1, α = 0.001/9, β = 0.75), which is torch's
    `LocalResponseNorm(size=9, alpha=0.001, beta=0.75, k=1)` (torch divides α by the size).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        classes: int,
        channels: int = 64,
        kernel: int = 6,
        fc1: int = 384,
        fc2: int = 192,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        depth, height, width = input_shape

        def lrn() -> nn.Module:
            return nn.LocalResponseNorm(size=9, alpha=0.001, beta=0.75, k=1.0)

        def same() -> nn.Module:  # TensorFlow's 'SAME': an even kernel pads one more at the end
            before = (kernel - 1) // 2
            return nn.ZeroPad2d((before, kernel - 1 - before, before, kernel - 1 - before))

        self.features = nn.Sequential(
            same(),
            nn.Conv2d(depth, channels, kernel),
            nn.ReLU(),
            nn.MaxPool2d(2),
            lrn(),
            same(),
            nn.Conv2d(channels, channels, kernel),
            nn.ReLU(),
            lrn(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        flat = channels * (height // 4) * (width // 4)
        if flat == 0:
            raise ValueError(f"input {tuple(input_shape)} is too small for two 2×2 poolings")
        self.classifier = nn.Sequential(
            nn.Linear(flat, fc1),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(fc1, fc2),
            nn.ReLU(),
            nn.Linear(fc2, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
