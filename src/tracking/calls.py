"""Calls to the store, bounded: SQLite's "database is locked" waited out with backoff, a
server's transient errors retried by MLflow itself within one budget (`HTTP_BUDGET`), then a
loud failure (`StoreError`), so a metric history never has a silent gap."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from mlflow.exceptions import MlflowException

T = TypeVar("T")


class StoreError(RuntimeError):
    """The tracking store cannot be used; the message names the (redacted) URI."""


# A server's requests: MLflow's own retries, bounded (its defaults retry for 14+ minutes). Worst
# case a call: (1 + MAX_RETRIES) × TIMEOUT + backoff 0 + 2 + 4 s + jitter ≤ 4 × 5 + 6 + 1.5 =
# 27.5 s, the one retry budget: `retry` below adds no loop around it (it only waits out SQLite's
# lock). A user's own values in the environment win.
HTTP_BUDGET = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
for _name, _value in HTTP_BUDGET.items():
    os.environ.setdefault(_name, _value)
_unreachable: list[str] = []  # a server that exhausted the budget once: no call waits again


class _NoDatabaseTraceback(logging.Filter):
    """MLflow logs every database error it raises at ERROR with the full traceback (its
    `mlflow.store.db.utils`), then raises it: the project says it in one line (StoreError, a job's
    `store error:` line), so the log record is dropped unless HYDRA_FULL_ERROR=1 asks for traces."""

    def filter(self, record: logging.LogRecord) -> bool:
        full = os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")
        return record.levelno < logging.ERROR or full


logging.getLogger("mlflow.store.db.utils").addFilter(_NoDatabaseTraceback())


def retry(call: Callable[[], T], attempts: int = 6, first_wait: float = 0.2) -> T:
    """call() retried with exponential backoff while a SQLite store says "database is locked"
    (or busy); any other error is raised at once. A server's transient errors are retried by
    MLflow itself within `HTTP_BUDGET`; once a server has not answered within it, every later call
    of this process fails at once with StoreError (the run's clean-up must not wait again)."""
    if _unreachable:
        raise StoreError(_unreachable[0])
    for attempt in range(attempts):
        try:
            return call()
        except (MlflowException, sqlite3.OperationalError, ConnectionError, OSError) as error:
            if _gone(error):
                _unreachable.append(f"server not answering: {_first_line(error)[:200]}")
                raise
            if attempt == attempts - 1 or not _locked(error):
                raise
            time.sleep(first_wait * 2**attempt)
    raise AssertionError("unreachable")


def _locked(error: Exception) -> bool:
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text


def _gone(error: Exception) -> bool:
    """A server that MLflow's own retries gave up on (refused, reset, timed out)."""
    text = str(error)
    return "Max retries exceeded" in text or "API request to" in text and "failed" in text


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
