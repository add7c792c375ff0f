"""A full artifact disk (issue 27): the store's `mlruns/` on a real, full tmpfs. An artifact is in
the store whole or not at all, the error names where the write failed, and the report skips what
it cannot read, in one line, without crashing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from tests.conftest import run_main, seed_store
from tests.test_faults import children_and_parent, clean


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """`tmp_path/mlruns`: a 3 MB tmpfs, filled to the last byte; unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mlruns = tmp_path / "mlruns"
    mlruns.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mlruns)], check=True)
    try:
        with open(mlruns / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:  # no space left: the disk is full
                pass
        yield mlruns
    finally:
        subprocess.run(["umount", str(mlruns)], check=True)


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.report", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_a_full_artifact_disk_leaves_no_partial_artifact_and_names_the_store(
    full_disk: Path, tmp_path: Path
) -> None:
    uri = seed_store(tmp_path / "mlflow.db")
    proc = run_main(
        "-m",
        "steps=50",
        "log.points=5",
        "log.report=false",
        "fn=online",
        "optim=adam,amsgrad",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep",
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    children, _ = children_and_parent(uri)
    assert sorted(r.info.status for r in children) == ["FAILED", "FAILED"]
    failures = [x for x in clean(proc.stderr) if x.startswith("error: job")]
    assert len(failures) == 2, proc.stderr
    for line in failures:  # where the write failed: the store's artifact folder, not a temp file
        assert f"artifacts: cannot write {full_disk}/" in line and "/tmp/tmp" not in line, line
    partial = [p for p in full_disk.rglob("*") if p.is_file() and p.name != "filler"]
    assert partial == [], partial  # every artifact whole or absent: here, none fitted
    for job in (0, 1):  # nothing computed is lost
        assert (tmp_path / "sweep" / str(job) / "trajectory.npz").stat().st_size > 0
    (parent,) = children_and_parent(uri)[1]  # the report, drawn again: written, not logged
    drawn = report("--parent", parent.info.run_id, "--tracking-uri", uri, "--out", str(tmp_path))
    assert drawn.returncode == 0, drawn.stderr
    assert "Traceback" not in drawn.stderr
    (line,) = [x for x in clean(drawn.stderr) if "report not logged" in x]
    assert f"artifacts: cannot write {full_disk}/" in line, line
    assert (Path(drawn.stdout.strip().splitlines()[-1]) / "summary.md").is_file()
    partial = [p for p in full_disk.rglob("*") if p.is_file() and p.name != "filler"]
    assert partial == [], partial


@pytest.mark.slow
def test_the_report_skips_an_unreadable_trajectory_in_one_line(tmp_path: Path) -> None:
    """A run's `trajectory.npz` cut to 0 bytes in the store (a disk that filled under another
    writer): the report is written all the same and names the run it could not read."""
    uri = seed_store(tmp_path / "mlflow.db")
    run_main(
        "-m",
        "steps=50",
        "log.points=5",
        "log.report=false",
        "fn=online",
        "optim=adam,amsgrad",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    children, (parent,) = children_and_parent(uri)
    broken = children[0]
    artifact = Path(MlflowClient(uri).get_run(broken.info.run_id).info.artifact_uri[7:])
    (artifact / "trajectory.npz").write_bytes(b"")
    proc = report("--parent", parent.info.run_id, "--tracking-uri", uri, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in clean(proc.stderr) if "could not read" in x]
    assert broken.info.run_id in line and "trajectory.npz" in line, line
    summary = Path(proc.stdout.strip().splitlines()[-1]) / "summary.md"  # the folder printed
    (noted,) = [x for x in summary.read_text().splitlines() if "could not read" in x]
    assert broken.info.run_id in noted and "trajectory.npz" in noted, noted
