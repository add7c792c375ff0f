"""A tracking server that hangs mid-sweep (SIGSTOP on a real `mlflow server`): the sweep waits one
retry budget (`src.tracking.calls.HTTP_BUDGET`) in all; once the store is known not to answer,
the report and the parent's close fail at once, each in one line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.conftest import start_main
from tests.servers import mlflow_server
from tests.test_faults import SMALL_HTTP_BUDGET, frozen, wait_until_computing


@pytest.mark.slow
def test_a_hung_server_costs_a_sweep_one_retry_budget(tmp_path: Path) -> None:
    backend = f"sqlite:///{tmp_path}/server.db"
    started: list = []
    with mlflow_server(backend, started=started) as (url, _):
        proc = start_main(
            "-m",
            "engine=torch",
            "steps=30000",
            "log.points=50",
            "fn=online",
            "optim=adam",
            f"tracking.uri={url}",
            f"hydra.sweep.dir={tmp_path}/sweep",
            env=SMALL_HTTP_BUDGET,
        )
        group = os.getpgid(started[0].pid)
        try:
            wait_until_computing(proc, backend)
            with frozen(proc):  # the job cannot finish before the server hangs
                os.killpg(group, signal.SIGSTOP)  # accepts connections, never answers
            out, err = proc.communicate(timeout=300)  # a hang guard, not a timing assertion
        finally:
            os.killpg(group, signal.SIGCONT)
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    text = out + err
    # the job met the hung server and waited its budget; every later step was told at once
    (report,) = [x for x in text.splitlines() if "no report:" in x]
    assert "server not answering" in report, report
    (closing,) = [x for x in err.splitlines() if x.startswith("error: sweep")]
    assert "server not answering" in closing, closing
