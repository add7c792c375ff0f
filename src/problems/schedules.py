"""Step-size schedules α_t = α·factor(t), t from 1 (the `schedule` config group).

The reference engine applies them with `torch.optim.lr_scheduler.LambdaLR`; the fast engine with the
same factor computed in its loop.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = {"constant": 0, "inv_sqrt": 1}  # name -> the fast engine's code


def factor(name: str, t: int) -> float:
    """constant: 1; inv_sqrt: 1/√t, the step size α/√t of the paper's theory."""
    return 1.0 if name == "constant" else 1.0 / math.sqrt(t)


def make_scheduler(name: str, optimizer: torch.optim.Optimizer) -> object | None:
    """A LambdaLR giving step t the rate α·factor(t), or None for a constant rate."""
    if name == "constant":
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: factor(name, done + 1))
