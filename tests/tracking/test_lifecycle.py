"""A sweep's record stays true off the happy path: concurrent sweeps, hard kills, interruptions.

Real processes, real signals, a real SQLite store (and a real `mlflow server` where it matters),
read back with MlflowClient.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from src.tracking import store
from tests import servers
from tests.conftest import chart_points, start_main
from tests.test_faults import wait_for_cpu
from tests.tracking.test_scaling import sweeps

POINTS = 50
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def running_runs(uri: str, experiment: str, count: int, timeout: float = 300) -> list:
    """Wait until `count` runs of `experiment` are RUNNING with their params logged. The client
    opens the store only once the sweep has made it: a client opening a new SQLite file while
    another process migrates it would migrate it too, and break the other's migration."""
    deadline = time.monotonic() + timeout
    client = None
    while time.monotonic() < deadline:
        client = client or (MlflowClient(uri) if store_has_runs(uri) else None)
        if client is None:
            time.sleep(0.3)
            continue
        try:
            found = client.get_experiment_by_name(experiment)
            runs = [] if found is None else client.search_runs([found.experiment_id])
        except Exception:  # noqa: BLE001  (the store is being created: ask again)
            runs = []
        busy = [r for r in runs if r.info.status == "RUNNING" and "optim.lr" in r.data.params]
        if len(busy) >= count:
            time.sleep(1.5)  # params come just before the engine starts
            return busy
        time.sleep(0.3)
    raise AssertionError(f"fewer than {count} runs started computing")


def store_has_runs(uri: str) -> bool:
    """Whether the SQLite store at `uri` exists with a run in it (read without MLflow); True for
    a server (it makes its store itself)."""
    path = store.sqlite_path(uri)
    if path is None:
        return True
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("select count(*) from runs").fetchone()[0] > 0
    except sqlite3.Error:  # no runs table yet: being created
        return False


# ------------------------------------------------------------------------- concurrent sweeps


def three_sweeps_at_once(uri: str, experiment: str) -> list[Path]:
    """Three sweeps started together, with the default sweep folder, seeds 1, 2, 3 (what is
    shared is the store and the folders: no figures, no report)."""
    procs = [
        start_main(
            "-m",
            "optim=adam,amsgrad",
            "fn=online",
            f"seed={seed}",
            "steps=2000",
            f"log.points={POINTS}",
            "log.figures=false",
            "log.report=false",
            "engine=torch",
            f"tracking.uri={uri}",
            f"tracking.experiment={experiment}",
        )
        for seed in (1, 2, 3)
    ]
    for proc in procs:
        code, err = finish(proc)
        assert code == 0, err
    found = sweeps(uri, experiment)
    folders = [Path(parent.data.tags["sweep_dir"]) for parent, _ in found]
    return folders


def assert_three_separate_sweeps(uri: str, experiment: str, folders: list[Path]) -> None:
    client = MlflowClient(uri)
    found = sweeps(uri, experiment)
    assert len(found) == 3 and len(set(folders)) == 3, folders
    for parent, children in found:
        assert parent.info.status == "FINISHED" and len(children) == 2
        seeds = {child.data.params["seed"] for child in children}
        assert len(seeds) == 1, seeds  # the children of one sweep, not a mix
        for child in children:
            assert child.info.status == "FINISHED"
            for name in ("x", "avg_regret"):
                history = client.get_metric_history(child.info.run_id, name)
                assert len(history) == chart_points(name, POINTS)
            hydra = Path(client.download_artifacts(child.info.run_id, ".hydra"))
            overrides = (hydra / "overrides.yaml").read_text()  # its own job's, not another's
            assert f"seed={child.data.params['seed']}" in overrides, overrides


@pytest.mark.slow
def test_three_sweeps_started_together_on_a_fresh_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    folders = three_sweeps_at_once(uri, "together")
    try:
        assert_three_separate_sweeps(uri, "together", folders)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_three_sweeps_started_together_on_a_server(tmp_path: Path) -> None:
    with servers.mlflow_server(f"sqlite:///{tmp_path}/server.db") as (uri, _):
        folders = three_sweeps_at_once(uri, "together-served")
        try:
            assert_three_separate_sweeps(uri, "together-served", folders)
        finally:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------- hard kills


@pytest.mark.slow
def test_runs_of_a_hard_killed_sweep_are_marked_killed_by_the_next_sweep(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start_main(
        "-m",
        "optim=adam,amsgrad",
        "fn=online",
        "steps=50000000",
        "engine=torch",
        f"hydra.sweep.dir={tmp_path}/killed",
        f"tracking.uri={uri}",
    )
    [victim] = running_runs(uri, "breaking-adam", 1)
    assert victim.data.tags[store.OWNER_PID] == str(proc.pid)
    proc.kill()  # SIGKILL: no handler runs, nothing is closed
    proc.wait()
    client = MlflowClient(uri)
    assert client.get_run(victim.info.run_id).info.status == "RUNNING"  # what MLflow is left with
    code, err = finish(
        start_main(
            "-m",
            "optim=adam",
            "fn=online",
            "steps=100",
            "log.points=10",
            f"hydra.sweep.dir={tmp_path}/next",
            f"tracking.uri={uri}",
        )
    )
    assert code == 0, err
    experiment = client.get_experiment_by_name("breaking-adam").experiment_id
    stale = client.search_runs([experiment], "tags.`failure.reason` = 'owner process gone'")
    killed_sweep = [r for r in stale if r.data.tags.get("sweep_dir", "").endswith("killed")]
    assert {r.info.run_id for r in stale} >= {victim.info.run_id} and killed_sweep
    assert {r.info.status for r in stale} == {"KILLED"}
    running = client.search_runs([experiment], "attributes.status = 'RUNNING'")
    assert running == []


@pytest.mark.slow
def test_a_run_whose_owner_lives_is_not_reaped(tmp_path: Path) -> None:
    client, experiment = store.connect(f"sqlite:///{tmp_path}/mlflow.db", "owners")
    mine = store.start_run(client, experiment, "alive", {})  # owned by this test's process
    elsewhere = store.start_run(client, experiment, "other host", {})
    client.set_tag(elsewhere, store.OWNER_HOST, "another-machine")
    gone = store.start_run(client, experiment, "gone", {})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    client.set_tag(gone, store.OWNER_PID, str(dead.pid))
    assert store.reap_stale_runs(client, experiment) == [gone]
    assert client.get_run(mine).info.status == "RUNNING"
    assert client.get_run(elsewhere).info.status == "RUNNING"
    assert client.get_run(gone).data.tags["failure.reason"] == store.STALE_REASON


def test_an_interrupted_sweep_waits_only_for_jobs_whose_process_lives(tmp_path: Path) -> None:
    """After Ctrl-C the launching process waits for the jobs still computing to log and close
    their runs; a run whose process is gone (submitit's controller kills its job on Ctrl-C) is
    not waited for: it is reaped at exit (it was waited for up to STOP_GRACE, 60 s)."""
    from src.tracking.sweep import computing_children  # noqa: PLC0415

    client, experiment = store.connect(f"sqlite:///{tmp_path}/mlflow.db", "waits")
    parent = store.start_run(client, experiment, "sweep", {"role": "sweep"})
    alive = store.start_run(client, experiment, "alive", {}, parent)  # this test's process
    gone = store.start_run(client, experiment, "gone", {}, parent)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    client.set_tag(gone, store.OWNER_PID, str(dead.pid))
    assert [r.info.run_id for r in computing_children(client, experiment, parent)] == [alive]
    store.end_run(client, alive, "KILLED")
    assert computing_children(client, experiment, parent) == []


# ---------------------------------------------------------------------- parallel interruption


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "signum"),
    [
        *((launcher, s) for launcher in ("joblib", "submitit_local") for s in INTERRUPTS),
        ("processes", signal.SIGINT),  # the project's launcher: the same forwarding
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else v,
)
def test_interrupting_a_parallel_sweep_kills_every_run_with_its_trajectory(
    tmp_path: Path, launcher: str, signum: int
) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = {
        "joblib": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"),
        "processes": ("hydra/launcher=processes", "hydra.launcher.n_jobs=2"),
        "submitit_local": ("hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"),
    }[launcher]
    proc = start_main(
        "-m",
        *options,
        "optim=adam,amsgrad",
        "fn=online",
        "steps=50000000",
        "engine=torch",
        f"log.points={POINTS}",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri={uri}",
        group=True,
    )
    deadline = time.monotonic() + 120
    for run in running_runs(uri, "breaking-adam", 2):  # each job some steps past its first point:
        wait_for_cpu(int(run.data.tags[store.OWNER_PID]), 1.0, deadline)  # 1 s of its own CPU
    # Ctrl-C reaches the terminal's whole process group; SIGTERM comes to the launching process
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    code, err = finish(proc, timeout=120)
    assert code == 128 + signum, err
    [(parent, children)] = sweeps(uri, "breaking-adam")
    client = MlflowClient(uri)
    assert parent.info.status == "KILLED", err
    assert len(children) == 2
    for child in children:
        assert child.info.status == "KILLED", (child.info.run_name, err)
        if launcher == "submitit_local" and signum == signal.SIGINT:
            continue  # Ctrl-C also reaches submitit's controller, which may kill its job first
        history = client.get_metric_history(child.info.run_id, "x")
        assert history, f"{child.info.run_name} kept no trajectory"
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "trajectory.npz" in names


@pytest.mark.slow
def test_the_report_reaps_runs_whose_owner_is_gone_and_calls_them_killed(tmp_path: Path) -> None:
    from src.report import sweep as report  # noqa: PLC0415

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client, experiment = store.connect(uri, "breaking-adam")
    parent = store.start_run(client, experiment, "sweep", {"role": "sweep"})
    done = store.start_run(client, experiment, "done", {}, parent)
    store.log_metrics(client, done, {"final_x": -1.0})
    store.end_run(client, done, "FINISHED")
    orphan = store.start_run(client, experiment, "orphan", {}, parent)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for run_id in (parent, orphan):
        client.set_tag(run_id, store.OWNER_PID, str(dead.pid))
    folder = report.main(["--tracking-uri", uri, "--out", str(tmp_path / "reports")])
    assert client.get_run(orphan).info.status == "KILLED"
    assert client.get_run(parent).info.status == "KILLED"
    summary = (folder / "summary.md").read_text()
    assert "FAILED: 0" in summary and "KILLED: 1" in summary and "RUNNING: 0" in summary


@pytest.mark.slow
def test_sigterm_while_the_sweep_writes_its_report_kills_the_parent_with_a_reason(
    tmp_path: Path,
) -> None:
    """SIGTERM after every job is done, while the launching process draws the report: the
    children stay FINISHED, the parent ends KILLED saying why, exit 143."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start_main(
        "-m",
        "steps=50",
        "log.points=5",
        "optim=adam,amsgrad",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    try:
        for line in proc.stdout:  # Hydra's log: the last job's end, then the report
            if "4/4 jobs done" in line:
                proc.send_signal(signal.SIGTERM)
                break
        code, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 143, err
    assert "Traceback" not in err
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("breaking-adam").experiment_id
    runs = client.search_runs([experiment])
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    statuses = sorted(r.info.status for r in runs if r.data.tags.get("role") != "sweep")
    assert statuses == ["FINISHED"] * 4
    assert parent.info.status == "KILLED"
    reason = parent.data.tags.get("failure.reason", "")
    assert reason.startswith("interrupted while writing the report"), parent.data.tags
