"""What every engine takes: the run's spec, the optimizer's factory, a progress callback.

Knows nothing of Hydra or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from src.problems.functions import OnlineFunction
from src.problems.projections import Projection

OptimizerFactory = Callable[[list[Tensor]], torch.optim.Optimizer]
Progress = Callable[[int], None]


@dataclass
class RunSpec:
    """Everything a run needs besides the optimizer."""

    fn: OnlineFunction
    projection: Projection
    steps: int
    replicates: int = 1
    seed: int = 0
    x0: float = 0.0
    dtype: torch.dtype = torch.float32
    log_points: int = 1000

    def comparator_bounds(self) -> tuple[float, float]:
        """The set regret compares against: the projection's, or the fn's domain if unbounded."""
        low, high = self.projection.bounds
        return (
            (low, high)
            if abs(low) != float("inf") and abs(high) != float("inf")
            else self.fn.domain
        )


def warm_up() -> None:
    """Import what a torch.optim step imports on first use (torch._dynamo, 1–2 s), so that it is
    not paid inside the timed, interruptible loop."""
    import torch._dynamo  # noqa: F401, PLC0415
