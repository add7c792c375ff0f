"""What every engine returns: the `Result` protocol the job logs and the report reads back.

Implemented by `src.problems.regret.RunResult` (a synthetic run: x_t and R_t/t per replicate) and
`src.engines.training.TrainResult` (a training run: losses and accuracy), so the job has one flow
for both: histories on the logged grid, final metrics, an `.npz` of arrays and a figure.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from src.problems.regret import DIVERGED, FINISHED, INTERRUPTED

__all__ = ["DIVERGED", "FINISHED", "INTERRUPTED", "Result"]


class Result(Protocol):
    log_steps: np.ndarray  # [P] the steps at which the histories were recorded
    steps_done: int
    status: str  # FINISHED, DIVERGED or INTERRUPTED
    reason: str  # why it did not finish ('' if it did)
    elapsed: float  # seconds in the engine
    info: dict
    artifact: str  # the stem of its .npz and .png artifacts

    def histories(self) -> dict[str, np.ndarray]: ...  # name -> [P] values on log_steps

    def finals(self) -> dict[str, float]: ...

    def arrays(self) -> dict[str, np.ndarray]: ...  # drawn by src.report.figures.result_figure
