"""Faults: divergence, interruption, store failures, determinism and secrets — end to end, in real
processes where the behaviour is about processes, against real MLflow stores (no mocks)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from src.job import run_job
from src.tracking import store as tracking
from tests.conftest import make_cfg, run_main, start_main
from tests.servers import free_port

SECRET_ENV = "BREAKING_ADAM_TEST_SECRET"
SECRET = "zq8xv7-do-not-log"


def clean(stderr: str) -> list[str]:
    """stderr's lines without MLflow's own INFO logging and blank lines."""
    return [x for x in stderr.splitlines() if x.strip() and " INFO mlflow" not in x]


def all_runs(uri: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("breaking-adam")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def children_and_parent(uri: str) -> tuple[list, list]:
    runs = all_runs(uri)
    return (
        [r for r in runs if r.data.tags.get("role") != "sweep"],
        [r for r in runs if r.data.tags.get("role") == "sweep"],
    )


def wait_until_computing(proc: subprocess.Popen, uri: str, timeout: float = 120) -> str:
    """The id of the first run RUNNING with its params logged (then a moment for the engine to
    start); fails if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        path = Path(uri.removeprefix("sqlite:///"))
        if path.exists():
            try:
                with sqlite3.connect(path, timeout=1) as db:
                    found = db.execute(
                        "select r.run_uuid from runs r join params p on p.run_uuid = r.run_uuid "
                        "where r.status = 'RUNNING' and p.key = 'optim.lr'"
                    ).fetchone()
            except sqlite3.OperationalError:  # tables not created yet, or locked: ask again
                found = None
            if found:  # params come just before the engine starts: let it compute a while
                wait_for_cpu(proc.pid, 1.5, deadline)
                return found[0]
        time.sleep(0.3)
    raise AssertionError("no run started computing")


# MLflow's retry budget for a server, made small (a user's values in the environment win over
# src.tracking.calls.HTTP_BUDGET): the same one budget, ~4 s instead of ~27 s
SMALL_HTTP_BUDGET = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}


@contextlib.contextmanager
def frozen(proc: subprocess.Popen) -> Iterator[None]:
    """`proc` stopped (SIGSTOP) inside the block, continued (SIGCONT) after it: what the block
    does to the world happens while the job is mid-computation, however loaded the machine."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_cpu(pid: int, seconds: float, deadline: float) -> None:
    """Wait until process `pid` has used `seconds` more CPU time: progress however loaded the
    machine is (a fixed sleep let a busy machine interrupt a run before its first step)."""
    start = cpu_seconds(pid)
    while cpu_seconds(pid) - start < seconds and time.monotonic() < deadline:
        time.sleep(0.1)


# ------------------------------------------------------------------------------ divergence


@pytest.fixture(scope="module")
def diverging_sweep(tmp_path_factory: pytest.TempPathFactory):
    """Six jobs: lr 0.01 (fine), 1e37 (overflows float32 at step 35), 1e38 (at step 1), on both
    engines, with projection=none and every f_t = −10x (fn.C=−1) so x runs off to +∞."""
    tmp = tmp_path_factory.mktemp("diverge")
    uri = f"sqlite:///{tmp}/mlflow.db"
    proc = run_main(
        "-m",
        "optim=adam",
        "fn=online",
        "fn.C=-1",
        "projection=none",
        "dtype=float32",
        "engine=torch,fast",
        "optim.lr=0.01,1e37,1e38",
        "steps=100",
        "log.points=100",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp}/multirun",
        check=False,
        env={SECRET_ENV: SECRET},
    )
    return proc, uri, tmp


@pytest.mark.slow
def test_divergence_fails_the_run_with_its_step_and_reason_on_both_engines(diverging_sweep):
    _, uri, _ = diverging_sweep
    client = MlflowClient(uri)
    children, parents = children_and_parent(uri)
    assert len(children) == 6 and len(parents) == 1
    assert parents[0].info.status == "FAILED"
    by = {(c.data.params["optim.lr"], c.data.tags["engine"]): c for c in children}
    assert set(by) == {(lr, e) for lr in ("0.01", "1e+37", "1e+38") for e in ("torch", "fast")}
    histories = {}
    for (lr, engine), run in by.items():
        xs = client.get_metric_history(run.info.run_id, "x")
        histories[lr, engine] = sorted((m.step, m.value) for m in xs)
        if lr == "0.01":  # the other jobs of the sweep ran and logged as usual
            assert run.info.status == "FINISHED" and len(xs) == 100
            continue
        step = "35" if lr == "1e+37" else "1"
        assert run.info.status == "FAILED"
        assert run.data.tags["failure.step"] == step
        assert run.data.tags["failure.reason"] == f"non-finite x or loss at step {step}"
        assert len(xs) == int(step) - 1  # the trajectory up to the last finite step is logged
        assert run.data.metrics["steps_done"] == int(step) - 1
    assert histories["1e+37", "torch"] == histories["1e+37", "fast"]


@pytest.mark.slow
def test_a_failed_sweep_ends_non_zero_with_one_line_per_failed_job(diverging_sweep):
    proc, _, _ = diverging_sweep
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = clean(proc.stderr)
    summary = lines[lines.index("multirun: 4 of 6 jobs failed") :]
    assert len(summary) == 5, proc.stderr
    for line in summary[1:]:
        assert line.startswith("  job ") and ": diverged: non-finite x or loss at step" in line


@pytest.mark.slow
def test_no_environment_variable_is_logged(diverging_sweep, tmp_path: Path):
    """Nothing of the environment reaches the store: not in params, tags, names or artifacts."""
    _, uri, _ = diverging_sweep
    client = MlflowClient(uri)
    for run in all_runs(uri):
        text = " ".join(
            [
                run.info.run_name,
                *run.data.params,
                *run.data.params.values(),
                *run.data.tags.values(),
            ]
        )
        text += artifact_text(client, run.info.run_id, tmp_path / run.info.run_id)
        assert SECRET not in text and SECRET_ENV not in text


def artifact_text(client: MlflowClient, run_id: str, folder: Path) -> str:
    """Every text artifact of the run, concatenated."""
    folder.mkdir(parents=True, exist_ok=True)
    if not client.list_artifacts(run_id):
        return ""
    local = Path(client.download_artifacts(run_id, "", str(folder)))
    return " ".join(
        p.read_text(errors="ignore")
        for p in local.rglob("*")
        if p.is_file() and p.suffix in (".yaml", ".txt", ".json", ".log", "")
    )


# ------------------------------------------------------------------------------ interruption


@pytest.mark.slow
def test_sigterm_during_a_sweep_kills_the_run_and_the_parent_and_keeps_the_trajectory(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start_main(
        "-m",
        "optim=adam",
        "fn=online,stochastic",
        "engine=fast",
        "steps=200000000",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/multirun",
    )
    try:
        wait_until_computing(proc, uri)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert took < 30, f"took {took:.1f}s to stop"
    assert "Traceback" not in stderr and clean(stderr)[-1].startswith("interrupted by SIGTERM")
    children, parents = children_and_parent(uri)
    assert len(children) == 1, "the sweep's second job must not start"
    assert children[0].info.status == "KILLED" and parents[0].info.status == "KILLED"
    assert_trajectory_logged(uri, children[0])


@pytest.mark.slow
def test_ctrl_c_during_a_torch_run_kills_it_and_keeps_the_trajectory(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start_main(
        "engine=torch", "steps=200000000", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/out"
    )
    try:
        wait_until_computing(proc, uri)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr and clean(stderr)[-1].startswith("interrupted by SIGINT")
    (run,) = all_runs(uri)
    assert run.info.status == "KILLED"
    assert_trajectory_logged(uri, run)


def assert_trajectory_logged(uri: str, run) -> None:
    client = MlflowClient(uri)
    done = run.data.metrics["steps_done"]
    assert 0 < done < 200_000_000
    xs = client.get_metric_history(run.info.run_id, "x")
    assert xs and max(m.step for m in xs) == done
    assert {"trajectory.npz", "config.yaml"} <= {
        a.path for a in client.list_artifacts(run.info.run_id)
    }


# ------------------------------------------------------------------------------ store faults


@pytest.fixture
def stopped_server() -> Iterator[str]:
    """A server process that accepts connections but never answers: stopped with SIGSTOP."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import socket, time\n"
                "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(64)\n"
                "print(s.getsockname()[1], flush=True); time.sleep(600)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())
        proc.send_signal(signal.SIGSTOP)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    "kind",
    [
        "bad scheme",
        "no folder",
        "unwritable",
        "absent server",
        pytest.param("stopped server", marks=pytest.mark.slow),  # a server process
    ],
)
@pytest.mark.timeout(120)  # a hang guard: MLflow's own retries would go on for 14+ minutes
def test_an_unusable_store_fails_within_seconds_naming_the_uri(kind: str, request) -> None:
    uri = {
        "bad scheme": "sqlit:///tmp/mlflow.db",
        "no folder": "sqlite:////no/such/folder/mlflow.db",
        "unwritable": "sqlite:////sys/mlflow.db",  # sysfs: not writable, even by root
        "absent server": f"http://alice:s3cret@127.0.0.1:{free_port()}",
        "stopped server": None,
    }[kind] or request.getfixturevalue("stopped_server")
    with pytest.raises(tracking.StoreError) as caught:
        tracking.connect(uri, "breaking-adam")
    message = str(caught.value)
    assert message.startswith(f"tracking.uri={tracking.redact(uri)}: ") and "\n" not in message
    assert "s3cret" not in message


@pytest.mark.slow
def test_a_stopped_server_fails_the_job_before_any_compute(
    stopped_server: str, tmp_path: Path
) -> None:
    """A job that would run for hours ends within seconds with one line."""
    began = time.monotonic()
    proc = run_main(
        "engine=torch",
        "steps=200000000",
        f"tracking.uri={stopped_server}",
        f"hydra.run.dir={tmp_path}/out",
        check=False,
        timeout=120,
    )
    assert time.monotonic() - began < 60
    assert proc.returncode == 1
    assert clean(proc.stderr) == [
        f"error: tracking.uri={tracking.redact(stopped_server)}: "
        "server not answering within 3 s (timed out)"
    ], proc.stderr
    assert "s3cret" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_an_absent_server_stops_a_sweep_before_its_parent_run(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    proc = run_main(
        "-m",
        "optim=adam,amsgrad",
        "steps=200000000",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={tmp_path}/multirun",
        check=False,
        timeout=120,
    )
    assert proc.returncode == 1
    (line,) = clean(proc.stderr)
    assert line.startswith(f"error: tracking.uri={tracking.redact(uri)}: server not reachable")
    assert "Launching" not in proc.stdout and "s3cret" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_store_error_while_logging_fails_the_job_loudly(tmp_path: Path) -> None:
    """The run is deleted from the store while the job computes: its logging cannot succeed.
    The job is frozen while its run is deleted, so a few seconds of compute suffice (60M steps,
    ~5 s of CPU, of which wait_until_computing lets 1.5 s pass)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start_main(
        "engine=fast", "steps=60000000", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/out"
    )
    try:
        run_id = wait_until_computing(proc, uri)
        with frozen(proc):  # still computing when its run is gone, however loaded the machine
            MlflowClient(uri).delete_run(run_id)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    kept, line = clean(stderr)  # the arrays computed are kept in the job's folder
    assert kept == f"kept the run's arrays locally: {tmp_path}/out/trajectory.npz"
    assert line.startswith(f"error: tracking.uri={uri}: store error: ") and run_id in line


@pytest.mark.slow
def test_artifacts_that_cannot_be_written_fail_the_run_in_one_line(tmp_path: Path) -> None:
    """`mlruns` is a file where the artifact folder must be: the run ends FAILED, one line."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    (tmp_path / "mlruns").write_text("not a folder")
    proc = run_main(
        "steps=50",
        "log.points=5",
        f"tracking.uri={uri}",
        f"hydra.run.dir={tmp_path}/o",
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    kept, line = clean(proc.stderr)
    assert line.startswith("error: artifacts: cannot write") and "mlruns" in line, line
    assert kept == f"kept the run's arrays locally: {tmp_path}/o/trajectory.npz"
    ((run,),) = [all_runs(uri)]
    assert run.info.status == "FAILED" and "error" in run.data.tags


@pytest.mark.slow
def test_a_server_that_dies_mid_job_fails_it_within_the_budget_keeping_the_arrays(
    tmp_path: Path,
) -> None:
    """The server is stopped while the job computes: MLflow's own bounded retries (no second
    loop around them), then one line naming the store and the local copy of the arrays."""
    from tests.servers import mlflow_server, stop_group  # noqa: PLC0415

    backend = f"sqlite:///{tmp_path}/server.db"
    started: list = []
    with mlflow_server(backend, started=started) as (url, _):
        proc = start_main(
            "engine=torch",
            "steps=30000",
            "log.points=50",
            f"tracking.uri={url}",
            f"hydra.run.dir={tmp_path}/out",
            env=SMALL_HTTP_BUDGET,
        )
        try:
            wait_until_computing(proc, backend)
            with frozen(proc):  # the job cannot finish before the server is gone
                stop_group(started[0])
            _, stderr = proc.communicate(timeout=240)  # a hang guard, not a timing assertion
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = clean(stderr)
    kept = tmp_path / "out" / "trajectory.npz"
    assert len(lines) == 2 and lines[0] == f"kept the run's arrays locally: {kept}", lines
    assert lines[1].startswith(f"error: tracking.uri={url}: store error: "), lines
    with np.load(kept) as arrays:
        assert arrays["x"].shape[0] == 50 and np.isfinite(arrays["x"]).all()


def test_retry_rides_out_a_locked_store_then_fails_loudly(tmp_path: Path) -> None:
    """A real SQLite lock held by another connection: retried until released; if never released,
    the error surfaces after the last attempt; a non-transient error is not retried."""
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as db:
        db.execute("create table t (x)")
    holder = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    holder.execute("begin exclusive")
    calls = []

    def write() -> None:
        calls.append(time.monotonic())
        with sqlite3.connect(path, timeout=0) as db:
            db.execute("insert into t values (1)")

    timer = threading.Timer(0.5, lambda: holder.execute("commit"))
    timer.start()
    tracking.retry(write, attempts=8, first_wait=0.05)
    timer.join()
    assert len(calls) > 1 and calls[-1] - calls[0] >= 0.4  # retried across the lock
    with sqlite3.connect(path) as db:
        assert db.execute("select count(*) from t").fetchone() == (1,)

    holder.execute("begin exclusive")
    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        tracking.retry(write, attempts=3, first_wait=0.01)
    assert len(calls) == 3
    holder.execute("commit")

    calls.clear()

    def broken() -> None:
        calls.append(1)
        with sqlite3.connect(path) as db:
            db.execute("insert into no_such_table values (1)")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        tracking.retry(broken, attempts=5, first_wait=0.01)
    assert len(calls) == 1


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("engine", ["torch", "fast"])
def test_same_config_and_seed_give_bit_identical_metrics(engine: str, store: str) -> None:
    overrides = [
        "fn=stochastic",
        "replicates=3",
        "steps=3000",
        "log.points=60",
        f"engine={engine}",
        f"tracking.uri={store}",
    ]
    ids = [run_job(make_cfg(*overrides, f"seed={seed}")).info["run_id"] for seed in (7, 7, 8)]
    client = MlflowClient(store)

    def logged(run_id: str) -> dict:
        run = client.get_run(run_id)
        series = {
            name: [
                (m.step, m.value)
                for m in sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
            ]
            for name in ("x", "avg_regret")
        }
        finals = {k: v for k, v in run.data.metrics.items() if k != "steps_per_second"}
        return {**series, "finals": finals, "engine": run.data.tags["engine"]}

    first, again, other = (logged(i) for i in ids)
    assert first["engine"] == engine and len(first["x"]) == 60
    assert first == again  # exact float equality, every point
    assert first["x"] != other["x"]  # and the seed matters


@pytest.mark.slow
def test_each_run_records_seed_torch_version_and_git_state(store: str) -> None:
    run_id = run_job(
        make_cfg("steps=50", "log.points=5", "seed=123", f"tracking.uri={store}")
    ).info["run_id"]
    tags = MlflowClient(store).get_run(run_id).data.tags

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert tags["seed"] == "123"
    assert tags["torch_version"] == torch.__version__
    assert tags["mlflow.source.git.commit"] == git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    assert tags["git_dirty"] == ("true" if dirty else "false")


# ------------------------------------------------------------------------------ security


@pytest.mark.slow
@pytest.mark.parametrize("target", ["ui", "server"])
def test_make_ui_and_server_bind_localhost_unless_told(target: str) -> None:
    """Only a HOST given on make's command line opens the UI or server beyond loopback: an
    exported HOST (a shell's or a CI's, set for something else) does not."""

    def dry_run(*args: str, env_host: str | None = None, flags: str = "") -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("HOST", "MAKEFLAGS")}
        if env_host is not None:
            env["HOST"] = env_host
        if flags:
            env["MAKEFLAGS"] = flags
        return subprocess.run(
            ["make", "-n", target, *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout

    assert "--host 127.0.0.1" in dry_run()
    assert "--host 127.0.0.1" in dry_run(env_host="0.0.0.0")
    assert "0.0.0.0" not in dry_run(env_host="0.0.0.0")
    assert "--host 0.0.0.0" in dry_run("HOST=0.0.0.0")
    assert "--host 0.0.0.0" in dry_run("HOST=0.0.0.0", env_host="10.0.0.1")
    # issue 27: make -e (MAKEFLAGS=e) lets the environment win over the makefile's assignments
    assert "0.0.0.0" not in dry_run("-e", env_host="0.0.0.0")
    assert "0.0.0.0" not in dry_run(env_host="0.0.0.0", flags="e")
    assert "--host 0.0.0.0" in dry_run("-e", "HOST=0.0.0.0")


@pytest.mark.slow
def test_credentials_from_the_environment_are_never_logged_or_printed(tmp_path: Path) -> None:
    """A real MLflow server, credentials through MLFLOW_TRACKING_USERNAME/PASSWORD (the way the
    refusal of a password in the URI points to): the sweep runs and the password appears in no
    output, param, tag, name or artifact (config.yaml, .hydra/), nor in any local file."""
    from tests.servers import mlflow_server  # noqa: PLC0415

    with mlflow_server(f"sqlite:///{tmp_path}/server.db") as (url, _):
        env = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "s3cret"}
        proc = run_main(
            "-m",
            "optim=adam",
            "fn=online",
            "steps=50",
            "log.points=5",
            f"tracking.uri={url}",
            f"hydra.sweep.dir={tmp_path}/multirun",
            env=env,
        )
        assert "s3cret" not in proc.stdout + proc.stderr
        client = MlflowClient(url)
        runs = all_runs(url)
        assert len(runs) == 2
        for run in runs:
            text = " ".join([run.info.run_name, *run.data.params.values(), *run.data.tags.values()])
            text += artifact_text(client, run.info.run_id, tmp_path / run.info.run_id)
            assert "s3cret" not in text
        assert files_holding(tmp_path / "multirun", "s3cret") == []


def files_holding(folder: Path, secret: str) -> list[Path]:
    """Every file under `folder` whose bytes contain `secret`."""
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.parametrize(
    "uri, secrets",
    [
        ("http://alice:Pa55@wordLEAK@127.0.0.1:{port}", ("Pa55", "wordLEAK")),
        ("https://alice:s3cret@127.0.0.1:{port}/mlflow", ("s3cret",)),
        ("postgresql://u@127.0.0.1:{port}/db?password=Xs3cret", ("Xs3cret",)),
        ("mysql://u@127.0.0.1:{port}/db?sslmode=require&client_secret=Ys3cret", ("Ys3cret",)),
        # issue 27: passwords SQLAlchemy reads whole (its userinfo runs to the @): a / and a ?
        ("postgresql://u:s3/cret@127.0.0.1:{port}/db", ("s3/cret", "cret@")),
        ("mysql://u:pa ss?s3cret@127.0.0.1:{port}/db", ("pa ss", "s3cret")),
    ],
)
@pytest.mark.parametrize("multirun", [False, True])
def test_a_password_in_the_tracking_uri_is_refused_and_written_nowhere(
    uri: str, secrets: tuple[str, ...], multirun: bool, tmp_path: Path
) -> None:
    """One line saying how to pass it instead, exit 2, no run, and no file Hydra or the project
    writes (.hydra/*.yaml, multirun.yaml, logs) holds the secret."""
    uri = uri.format(port=free_port())
    folder = f"hydra.sweep.dir={tmp_path}/multirun" if multirun else f"hydra.run.dir={tmp_path}/o"
    proc = run_main(
        *(["-m", "optim=adam,amsgrad"] if multirun else []),
        "steps=50",
        "log.points=5",
        f"tracking.uri='{uri}'",  # quoted: Hydra's grammar takes no bare = in a value
        folder,
        check=False,
    )
    (line,) = clean(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert line.startswith("error: tracking.uri=") and "carries a password" in line, line
    for hint in ("MLFLOW_TRACKING_PASSWORD", "PGPASSWORD", "~/.pgpass"):
        assert hint in line
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr
        assert files_holding(tmp_path, secret) == []
    assert "Launching" not in proc.stdout


@pytest.mark.slow
def test_redact_hides_every_password_form() -> None:
    assert (
        tracking.redact("http://alice:Pa55@wordLEAK@host:5000/x") == "http://alice:***@host:5000/x"
    )
    assert tracking.redact("postgresql://u@h/db?password=X&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert tracking.redact("at mysql://u@h/db?client_secret=Y now") == (
        "at mysql://u@h/db?client_secret=*** now"
    )
    assert tracking.redact("sqlite:////tmp/a@b/mlflow.db") == "sqlite:////tmp/a@b/mlflow.db"
    assert tracking.redact("sqlite:////tmp/a:b@c/mlflow.db") == "sqlite:////tmp/a:b@c/mlflow.db"
    # as SQLAlchemy parses them: the password runs from the user's colon to the @
    assert tracking.redact("postgresql://u:s3/cret@h/db") == "postgresql://u:***@h/db"
    assert tracking.redact("x mysql://u:pa ss?s3cret@h:1/db y") == "x mysql://u:***@h:1/db y"
    assert tracking.redact("postgresql+psycopg://u:p#w@h/db") == "postgresql+psycopg://u:***@h/db"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "multirun"),
    [
        ("tracking.experiment=${oc.env:MLFLOW_TRACKING_PASSWORD}", False),
        ("tracking.experiment=${oc.env:MLFLOW_TRACKING_PASSWORD}", True),
        ("+note=x${oc.env:MLFLOW_TRACKING_PASSWORD}", False),
        ("hydra.job.name=${oc.env:MLFLOW_TRACKING_PASSWORD}", False),
    ],
)
def test_a_value_that_reads_the_environment_is_refused_and_the_secret_written_nowhere(
    override: str, multirun: bool, tmp_path: Path
) -> None:
    """Issue 27: `${oc.env:…}` made the password the experiment's name. Outside hydra.launcher.*
    (the launchers' own settings) a value may not read the environment: one line naming the key,
    exit 2, no store, and the variable's value in no output or file."""
    folder = f"hydra.sweep.dir={tmp_path}/multirun" if multirun else f"hydra.run.dir={tmp_path}/o"
    proc = run_main(
        *(["-m", "optim=adam,amsgrad"] if multirun else []),
        "steps=50",
        "log.points=5",
        override,
        folder,
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        env={"MLFLOW_TRACKING_PASSWORD": "Zs3cretEnv"},
        check=False,
        seeded_store=False,
    )
    (line,) = clean(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    key = override.lstrip("+").split("=")[0]
    assert line.startswith(f"error: {key}=") and "reads an environment variable" in line, line
    assert "Zs3cretEnv" not in proc.stdout + proc.stderr
    assert files_holding(tmp_path, "Zs3cretEnv") == []
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "override",
    [
        "+hydra.callbacks.x={_target_:builtins.open,_args_:['{file}',w]}",
        "hydra.callbacks.report._target_=builtins.open",
        "+hydra.job_logging.handlers.x={_target_:builtins.open,_args_:['{file}',w]}",
    ],
)
def test_code_named_under_hydra_on_the_command_line_is_refused_before_it_runs(
    override: str, tmp_path: Path
) -> None:
    """Issue 27: Hydra instantiates its callbacks before any of the project's code sees the config,
    so `+hydra.callbacks.x={_target_:builtins.open,…}` truncated a file, exit 0. The command line
    may not name code under hydra.* (docs/errors.md, the trust model): one line, exit 2, the file
    untouched and nothing stored."""
    victim = tmp_path / "keep.txt"
    victim.write_text("11 bytes ok")
    proc = run_main(
        override.replace("{file}", str(victim)),
        "steps=50",
        "log.points=5",
        f"hydra.run.dir={tmp_path}/o",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        check=False,
        seeded_store=False,
    )
    (line,) = clean(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert line.startswith("error: hydra.") and "may not name code" in line, line
    assert victim.read_text() == "11 bytes ok"
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "start"),
    [
        (("hydra.run.dir=/proc/x",), "error: hydra.run.dir='/proc/x': cannot create or write it"),
        (("optim.lr=é",), "error: 'optim.lr=é': Hydra's override grammar cannot read it"),
        (("tracking.experiment=a\nb",), "error: 'tracking.experiment=a\\nb': Hydra's override"),
        (("-m", "optim.lr=é,1"), "error: 'optim.lr=é,1': Hydra's override grammar cannot read it"),
    ],
)
def test_a_run_folder_or_an_override_hydra_cannot_take_is_one_line(
    arguments: tuple[str, ...], start: str, tmp_path: Path
) -> None:
    """Issue 27: a folder Hydra cannot make (a traceback from pathlib) and an override its lexer
    rejects (5 lines of LexerNoViableAltException): one line, exit 2, nothing stored."""
    proc = run_main(
        *arguments,
        "steps=50",
        "log.points=5",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        check=False,
        seeded_store=False,
    )
    lines = clean(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(start), lines[0]
    assert not (tmp_path / "mlflow.db").exists()
