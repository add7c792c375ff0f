"""The garbage collector around a command's life (`src.main`, `src.report`).

Importing torch, MLflow, numba, matplotlib and Hydra makes ~800,000 long-lived objects: a command
turns the collector off before its imports (its first lines) and calls `run` after them. `run`
freezes what the start made (`gc.freeze`: kept, never scanned again), turns the collector on for
the command, so that a job's garbage is freed, and at the end collects what the command left and
freezes what lives on: the interpreter's teardown then does not rescan the objects the run made
(`torch._dynamo`'s import, numba's kernels, the figures: ~0.7 s of a sweep's exit). The collection
first finalises the run's garbage, so a file a user's code left unclosed on an object in a
reference cycle is still written (tests/test_exit.py). One case is left to the user: a file left
unclosed on an object that is still reachable at the end, in a cycle (a module's global that
refers to itself), is not written, as with any object the start froze; closing the file writes it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any


def run(command: Callable[..., Any], *args: object) -> Any:
    """`command(*args)` with the start's objects frozen and the collector on; the end collected,
    then frozen."""
    gc.freeze()
    gc.enable()
    try:
        return command(*args)
    finally:
        gc.collect()
        gc.freeze()
