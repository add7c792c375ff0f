"""The store made read-only or deleted mid-sweep (issue 27): one line per failed job, exit 1, no
traceback (MLflow's own ERROR log of the database error, with its traceback, is left out; the
job's line says it; `HYDRA_FULL_ERROR=1` shows it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import start_main
from tests.test_faults import wait_until_computing


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["read-only", "deleted"])
def test_a_store_made_read_only_or_deleted_mid_sweep_is_one_line_per_job(
    fault: str, tmp_path: Path
) -> None:
    if fault == "read-only" and (shutil.which("chattr") is None or os.geteuid() != 0):
        pytest.skip("needs chattr, as root")
    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    proc = start_main(
        "-m",
        "engine=fast",
        "steps=30000000",
        "log.points=20",
        "fn=online",
        "optim=adam,amsgrad",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    try:
        wait_until_computing(proc, uri)
        if fault == "read-only":  # immutable: read-only even for root
            subprocess.run(["chattr", "+i", str(database)], check=True)
        else:
            database.unlink()
        _, err = proc.communicate(timeout=300)
    finally:
        if database.exists():
            subprocess.run(["chattr", "-i", str(database)], check=False)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err[:3000]
    for job in (0, 1):
        (line,) = [x for x in err.splitlines() if x.startswith(f"error: job {job} ")]
        assert "store error" in line, line
