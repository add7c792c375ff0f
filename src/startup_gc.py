"""The cyclic garbage collector: off while a process starts, then on for what it makes after.

Starting a job imports torch, MLflow, SQLAlchemy, numba, matplotlib and Hydra: ~800,000 objects,
nearly all of them alive until the process ends. While the heap grows, the collector keeps
rescanning it from the start: seven full passes, ~1.1 s of the ~5.3 s those imports take here
(`python -c "import gc; gc.disable(); import torch, mlflow"` against the same without the first
statement). An entry point calls `pause()` before its imports; `resume()` then freezes every object
made so far (`gc.freeze`: kept, never scanned again) and turns the collector back on, so a job's
own reference cycles are still freed. The cost: the start's own cyclic garbage is kept
(+4 MB of ~555 MB, measured).

`src.main` resumes it with the callback `ResumeCollector`, first in `hydra.callbacks`: after Hydra
has imported the callbacks (and with them torch and MLflow), before a sweep composes its jobs, so
that the garbage of composing 1,000 jobs is freed, not frozen. A job resumes it too (a config
without the callback); `src.report` resumes it after its imports.
"""

from __future__ import annotations

import gc
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

# Allocations between two young-generation passes (Python's default: 700). A job logs its history
# through MLflow's ORM, ~20 tracked objects a point, most of them freed by reference counting:
# 10,000 makes 0.02-0.03 s less a job of the 60-job grid (`make bench`), and holds at most that
# many objects longer.
YOUNG_THRESHOLD = 10_000
_paused: list[bool] = []  # [True] while pause() holds the collector off


def pause() -> None:
    """The collector off until `resume()` (a no-op if it was already off)."""
    if gc.isenabled():
        gc.disable()
        _paused.append(True)


def resume() -> None:
    """Freeze what the start made and turn the collector back on, if `pause()` turned it off."""
    if _paused:
        _paused.clear()
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        gc.enable()


class ResumeCollector(Callback):
    """First in `hydra.callbacks`: the collector back on once Hydra has imported every callback (and
    with them torch and MLflow), before a sweep composes its jobs (whose garbage it must free)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        resume()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        resume()
