"""`src.startup_gc`: the garbage collector is off while a command imports torch, MLflow and
Hydra, then on (with the start's heap frozen) for what the jobs make. Real processes;
`sitecustomize` plants a probe that watches every collection in the process under test."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from src import PROJECT_ROOT, startup_gc
from tests.conftest import run_probed

PROBE = """
import atexit, gc, json, os, sys
from pathlib import Path
_seen = {"before_freeze": 0, "after_freeze": 0, "torch_loaded_at_first": None}

def _watch(phase, info):
    if phase != "start":
        return
    # get_freeze_count walks the frozen objects: asked only until they exist
    if not _seen["after_freeze"] and gc.get_freeze_count() == 0:
        # a pass over the heap that torch or MLflow grows
        _seen["before_freeze"] += "torch" in sys.modules or "mlflow" in sys.modules
    else:
        _seen["after_freeze"] += 1
        if _seen["torch_loaded_at_first"] is None:
            _seen["torch_loaded_at_first"] = "torch" in sys.modules

gc.callbacks.append(_watch)

def _report():
    _seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())
    Path(os.environ["PROBE_FILE"]).write_text(json.dumps(_seen))

atexit.register(_report)
"""


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
def test_no_collection_while_a_job_starts_and_collections_during_it(
    tmp_path: Path, multirun: bool
) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["-m", "src.main", "steps=20000", "log.figures=false", f"tracking.uri={uri}"]
    if multirun:
        args[2:2] = [
            "-m",
            "optim=adam,amsgrad",
            "fn=online",
            "log.report=false",
            f"hydra.sweep.dir={tmp_path}/m",
        ]
    else:
        args += [f"hydra.run.dir={tmp_path}/out"]
    _, seen = run_probed(tmp_path, PROBE, *args)
    assert seen["before_freeze"] == 0  # not one pass while torch and MLflow were imported
    assert seen["frozen"] > 100_000  # torch's, MLflow's, Hydra's objects: never scanned again
    assert seen["enabled"]  # ... and the collector back on for what the jobs make
    assert seen["after_freeze"] > 0 and seen["torch_loaded_at_first"]
    runs = mlflow.MlflowClient(uri).search_runs(["1"], "attributes.status = 'FINISHED'")
    assert len(runs) == (3 if multirun else 1)  # the jobs (and a sweep's parent) ran as before


def test_report_command_pauses_the_collector_while_it_imports(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = ["-m", "src.main", "-m", "steps=2000", "log.figures=false", "log.report=false"]
    subprocess.run(
        [sys.executable, *sweep, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/m"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
        timeout=300,
    )
    args = ["-m", "src.report", "--tracking-uri", uri, "--out", str(tmp_path / "reports")]
    _, seen = run_probed(tmp_path, PROBE, *args)
    assert seen["before_freeze"] == 0 and seen["frozen"] > 100_000 and seen["enabled"]
    assert any((tmp_path / "reports").rglob("*.png"))


def test_resume_without_pause_leaves_the_collector_alone() -> None:
    frozen = gc.get_freeze_count()
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    try:
        startup_gc.pause()  # already off (not by pause): resume must not turn it on
        startup_gc.resume()
        assert not gc.isenabled()
    finally:
        gc.enable()
