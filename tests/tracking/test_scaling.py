"""Sweeps beyond one process: parallel launchers, a shared tracking server, no lost runs.

Every sweep runs for real in a subprocess (`python -m src.main -m ...`) and is read back with
`MlflowClient`: one parent per sweep, one FINISHED child per job, every metric point and every
artifact present. Stores: SQLite written by the workers themselves, and `mlflow server` on SQLite
and on a real PostgreSQL. Launchers: joblib (4 workers), submitit_local, and Ray against a head
started here. Every server is on 127.0.0.1 and is stopped when this file's tests end
(tests/servers.py).
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from src.tracking import store as tracking
from src.tracking.sweep import PARENT_ENV, PARENT_FILE, SweepRun, parent_run_id
from tests import servers
from tests.conftest import chart_points, run_main

STEPS, POINTS = 2000, 50
# every sweep names optim and fn: conf/config.yaml's sweeper params would add them otherwise
GRID = ("optim=adam,amsgrad", "fn=online,stochastic", "seed=0,1")  # 8 jobs
SMALL_GRID = GRID[:2]  # 4 jobs: where the store serialises the writers (a server), 2 workers
# reused, concurrency needs no more
PAIR = ("optim=adam,amsgrad", "fn=online")  # 2 jobs: where each job is a process of its own
# (submitit) or a worker the launcher did not start (Ray), two at once show the concurrency
SWEEP_TIMEOUT = 400


# --- helpers ------------------------------------------------------------------------------------


def sweep(
    tmp: Path,
    uri: str,
    experiment: str,
    *args: str,
    check: bool = True,
    env: dict | None = None,
    drawn: bool = False,
):
    """One multirun sweep of `args` (launcher and grid) into experiment `experiment` at `uri`.
    The torch engine: what is tested is the tracking, and it needs no numba compile per worker.
    Without the runs' figures and the sweep's report unless `drawn` (~1.3 s of CPU a 2-job
    sweep, and matplotlib in every worker): one parallel sweep draws them
    (`test_joblib_sweep_loses_no_run[sqlite]`), tests/report the rest."""
    drawing = () if drawn else ("log.figures=false", "log.report=false")
    return run_main(
        "-m",
        *args,
        *drawing,
        f"steps={STEPS}",
        f"log.points={POINTS}",
        "engine=torch",
        f"hydra.sweep.dir={tmp}/multirun",
        f"tracking.uri={uri}",
        f"tracking.experiment={experiment}",
        timeout=SWEEP_TIMEOUT,
        env=env,
        check=check,
    )


def sweeps(uri: str, experiment: str) -> list[tuple[object, list]]:
    """[(parent, children)] of `experiment`, oldest sweep first; no run without a parent."""
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment} at {uri}"
    runs = client.search_runs([found.experiment_id], max_results=1000)
    parents = sorted(
        (r for r in runs if r.data.tags.get("role") == "sweep"), key=lambda r: r.info.start_time
    )
    ids = {p.info.run_id for p in parents}
    orphans = [
        r.info.run_name
        for r in runs
        if r.info.run_id not in ids and r.data.tags.get(tracking.PARENT_TAG) not in ids
    ]
    assert not orphans, f"runs outside any sweep: {orphans}"
    return [
        (p, [r for r in runs if r.data.tags.get(tracking.PARENT_TAG) == p.info.run_id])
        for p in parents
    ]


def assert_child_complete(client: MlflowClient, child, tmp: Path) -> None:
    """FINISHED, every metric point, the final metrics, and both artifacts, readable."""
    run_id = child.info.run_id
    assert child.info.status == "FINISHED", (child.info.run_name, child.data.tags)
    for name in ("x", "avg_regret"):
        history, points = client.get_metric_history(run_id, name), chart_points(name, POINTS)
        assert len(history) == points, (child.info.run_name, name, len(history))
        assert len({m.step for m in history}) == points and max(m.step for m in history) == STEPS
    assert child.data.metrics["steps_done"] == STEPS
    assert {"final_x", "final_regret", "final_avg_regret"} <= set(child.data.metrics)
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"trajectory.npz", "config.yaml"} <= names, (child.info.run_name, names)
    folder = tmp / "downloads" / run_id
    folder.mkdir(parents=True)
    npz = np.load(client.download_artifacts(run_id, "trajectory.npz", str(folder)))
    assert npz["x"].shape[0] == POINTS and npz["log_steps"][-1] == STEPS


def assert_complete_sweep(uri: str, experiment: str, tmp: Path, jobs: int = 8) -> tuple:
    """Exactly one sweep: a FINISHED parent with `jobs` complete children, one per grid point."""
    found = sweeps(uri, experiment)
    assert len(found) == 1, f"{len(found)} sweeps"
    parent, children = found[0]
    assert parent.info.status == "FINISHED"
    assert len(children) == jobs, [c.info.run_name for c in children]
    client = MlflowClient(uri)
    for child in children:
        assert_child_complete(client, child, tmp)
    combos = {
        (c.data.params["optim.amsgrad"], c.data.params["fn.class"], c.data.params["seed"])
        for c in children
    }
    assert len(combos) == jobs
    return parent, children


def assert_served_artifacts(children: list, artifacts: Path) -> None:
    """Through a server with --serve-artifacts: the artifacts are in the server's folder."""
    for child in children:
        assert child.info.artifact_uri.startswith("mlflow-artifacts:"), child.info.artifact_uri
        stored = list(artifacts.rglob(f"{child.info.run_id}/artifacts/trajectory.npz"))
        assert len(stored) == 1, (child.info.run_id, stored)


# --- servers (this file's: started once, stopped when its tests end; an idle Ray head takes ~4%
# of a core) ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_uri() -> str:
    if servers.postgres_bin() is None:
        message = "no PostgreSQL server binaries: apt-get install postgresql (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with servers.postgres() as uri:
        yield uri


@pytest.fixture(scope="module")
def server_on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("server-sqlite")
    with servers.mlflow_server(f"sqlite:///{folder}/mlflow.db") as (url, artifacts):
        yield url, artifacts


@pytest.fixture(scope="module")
def server_on_postgres(postgres_uri: str) -> tuple[str, Path]:
    with servers.mlflow_server(postgres_uri) as (url, artifacts):
        yield url, artifacts


@pytest.fixture(scope="module")
def ray_address() -> str:
    with servers.ray_head(num_cpus=2) as address:
        yield address


# --- fast: how the parent id reaches a job -----------------------------------------------------


def test_parent_id_from_environment_else_sweep_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PARENT_ENV, raising=False)
    assert parent_run_id(tmp_path) is None and parent_run_id(None) is None
    (tmp_path / PARENT_FILE).write_text("from-file\n")
    assert parent_run_id(tmp_path) == "from-file"  # a job that shares only the sweep folder
    monkeypatch.setenv(PARENT_ENV, "from-env")
    assert parent_run_id(tmp_path) == "from-env"


def test_callback_pickled_to_a_worker_sets_the_parent_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Launchers pickle the Hydra context, callbacks included, to their workers."""
    callback = SweepRun()
    callback.run_id = "abc123"
    monkeypatch.delenv(PARENT_ENV, raising=False)  # a worker that inherited nothing
    in_worker = pickle.loads(pickle.dumps(callback))
    in_worker.on_job_start(config=None)
    assert os.environ[PARENT_ENV] == "abc123"
    in_worker.on_job_end(config=None, job_return=None)
    assert PARENT_ENV not in os.environ  # the worker's environment as it was
    monkeypatch.setenv(PARENT_ENV, "stale")  # a reused worker from an earlier sweep
    in_worker.on_job_start(config=None)
    assert os.environ[PARENT_ENV] == "abc123"


@pytest.mark.parametrize("scheme", ["http", "postgresql"])
def test_unreachable_store_fails_in_seconds_naming_it(scheme: str) -> None:
    uri = f"{scheme}://user:secret@127.0.0.1:{servers.free_port()}/db"
    start = time.monotonic()
    with pytest.raises(tracking.StoreError, match="127.0.0.1") as error:
        tracking.connect(uri, "breaking-adam")
    assert time.monotonic() - start < 5
    assert "secret" not in str(error.value) and f"{scheme}://user:***@127.0.0.1" in str(error.value)


def test_slurm_preset_composes() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
        cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.cpus_per_task == 1 and launcher.timeout_min > 0 and launcher.mem_gb > 0
    assert launcher.partition and launcher.array_parallelism > 0


def test_ray_cluster_preset_composes() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
        cfg = compose(
            "config",
            overrides=[
                "hydra/launcher=ray_cluster",
                "hydra.launcher.ray.init.address=10.0.0.1:6379",
            ],
            return_hydra_config=True,
        )
    init = cfg.hydra.launcher.ray.init
    assert init.address == "10.0.0.1:6379" and init.object_store_memory is None


# --- slow: real sweeps --------------------------------------------------------------------------


@pytest.mark.slow
def test_job_fails_fast_when_the_server_is_unreachable(tmp_path: Path) -> None:
    """A billion torch steps would take hours: the job stops on the store, before computing."""
    uri = f"http://127.0.0.1:{servers.free_port()}"
    for mode in (["-m", "optim=adam,amsgrad"], []):
        start = time.monotonic()
        proc = run_main(
            *mode,
            "steps=1000000000",
            "engine=torch",
            f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path}/multirun",
            f"hydra.run.dir={tmp_path}/run",
            check=False,
            timeout=120,
        )
        elapsed = time.monotonic() - start
        assert proc.returncode != 0
        assert uri in proc.stdout + proc.stderr
        assert elapsed < 60, elapsed


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "server-sqlite", "server-postgres"])
def test_joblib_sweep_loses_no_run(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """8 jobs, 4 loky workers, one store: one FINISHED parent, 8 complete FINISHED children."""
    if store == "sqlite":
        uri, artifacts = f"sqlite:///{tmp_path}/mlflow.db", None
    else:
        fixture = {"server-sqlite": "server_on_sqlite", "server-postgres": "server_on_postgres"}
        uri, artifacts = request.getfixturevalue(fixture[store])
    experiment = f"joblib-{store}"
    # SQLite: 8 jobs on 4 workers, its file lock contended; a server: 4 jobs on 2 workers
    grid, jobs, workers = (GRID, 8, 4) if store == "sqlite" else (SMALL_GRID, 4, 2)
    launcher = ("hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}")
    drawn = store == "sqlite"  # the figures drawn in the loky workers, the report after them
    proc = sweep(tmp_path, uri, experiment, *launcher, *grid, drawn=drawn)
    assert "database is locked" not in proc.stderr
    parent, children = assert_complete_sweep(uri, experiment, tmp_path, jobs)
    if drawn:
        client = MlflowClient(uri)
        for child in children:
            assert "trajectory.png" in {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "report/summary.md" in {
            a.path for a in client.list_artifacts(parent.info.run_id, "report")
        }
    assert (tmp_path / "multirun" / PARENT_FILE).read_text() == parent.info.run_id
    if artifacts is None:  # SQLite: artifacts in mlruns/ beside the database
        for child in children:
            assert child.info.artifact_uri.startswith((tmp_path / "mlruns").as_uri())
    else:
        assert_served_artifacts(children, artifacts)


@pytest.mark.slow
def test_submitit_local_sweep_loses_no_run(tmp_path: Path) -> None:
    """The submitit launcher (Slurm's, run locally): each job its own process."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep(
        tmp_path,
        uri,
        "submitit",
        "hydra/launcher=submitit_local",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.timeout_min=10",
        *PAIR,
    )
    assert_complete_sweep(uri, "submitit", tmp_path, jobs=2)
    assert list((tmp_path / "multirun" / ".submitit").iterdir())


FAKE_SBATCH = """#!/bin/sh
for arg in "$@"; do script="$arg"; done
cp "$script" "$FAKE_SLURM_OUT/submitted.sh"
echo "sbatch: error: no cluster here (a test's stand-in)" >&2
exit 1
"""


@pytest.mark.slow
def test_slurm_preset_submits_its_resources_and_a_failed_launch_fails_the_parent(
    tmp_path: Path,
) -> None:
    """The real `slurm` preset up to `sbatch` (a stand-in that keeps the script and refuses):
    the array asks for the preset's resources; the launch fails, so the parent ends FAILED
    (closed when the launching process exits) with no child."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(FAKE_SBATCH)
    (bindir / "srun").write_text("#!/bin/sh\nexit 1\n")
    for tool in bindir.iterdir():
        tool.chmod(0o755)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_SLURM_OUT": str(tmp_path)}
    proc = sweep(
        tmp_path,
        uri,
        "slurm",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=short",
        "optim=adam",
        "fn=online,stochastic",
        env=env,
        check=False,
    )
    assert proc.returncode != 0 and "no cluster here" in proc.stderr
    script = (tmp_path / "submitted.sh").read_text()
    for line in (
        "--array=0-1%2",
        "--cpus-per-task=1",
        "--mem=4GB",
        "--partition=short",
        "--time=240",
        f"--output={tmp_path}/multirun/.submitit/",
    ):
        assert f"#SBATCH {line}" in script, (line, script)
    [(parent, children)] = sweeps(uri, "slurm")
    assert parent.info.status == "FAILED" and children == []


@pytest.mark.slow
def test_ray_sweep_on_an_existing_cluster_loses_no_run(
    tmp_path: Path, ray_address: str, server_on_postgres
) -> None:
    """Ray workers started before the sweep (they inherit no environment of the launcher),
    logging to a shared tracking server on PostgreSQL."""
    uri, artifacts = server_on_postgres
    sweep(
        tmp_path,
        uri,
        "ray",
        "hydra/launcher=ray_cluster",
        f"hydra.launcher.ray.init.address={ray_address}",
        *PAIR,
        env=servers.LOCAL_ENV,
    )
    _, children = assert_complete_sweep(uri, "ray", tmp_path, jobs=2)
    assert_served_artifacts(children, artifacts)


@pytest.mark.slow
def test_the_same_sweep_twice_makes_two_sweeps(tmp_path: Path) -> None:
    """Same command, same sweep folder, same store: two parents, each with its own children.
    (Hydra's default launcher: what can collide here is the store and the folder, not workers.)"""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    grid = ("optim=adam,amsgrad", "fn=online")
    sweep(tmp_path, uri, "twice", *grid)
    first = sweeps(uri, "twice")
    sweep(tmp_path, uri, "twice", *grid)
    both = sweeps(uri, "twice")
    assert len(both) == 2
    client = MlflowClient(uri)
    ids = [{c.info.run_id for c in children} for _, children in both]
    assert len(ids[0]) == len(ids[1]) == 2 and not ids[0] & ids[1]
    assert ids[0] == {c.info.run_id for c in first[0][1]}  # the first sweep's runs, untouched
    for parent, children in both:
        assert parent.info.status == "FINISHED"
        for child in children:
            assert_child_complete(client, child, tmp_path)
    assert len({c.info.artifact_uri for _, cs in both for c in cs}) == 4
    assert (tmp_path / "multirun" / PARENT_FILE).read_text() == both[1][0].info.run_id


@pytest.mark.slow
def test_one_failing_job_leaves_the_others_complete(tmp_path: Path) -> None:
    """lr=1e38 without projection: x is non-finite at step 1 in float32; that job's run ends
    FAILED with the reason, the others finish complete, the parent ends FAILED. Three jobs on two
    loky workers, the failing one first: the third job goes to the first worker free, most often
    the one whose job just failed."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = sweep(
        tmp_path,
        uri,
        "failing",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "optim=adam",
        "fn=online",
        "projection=none",
        "optim.lr=1e38,0.001,0.002",
        check=False,
    )
    assert proc.returncode != 0
    [(parent, children)] = sweeps(uri, "failing")
    assert parent.info.status == "FAILED"
    assert len(children) == 3
    failed = [c for c in children if c.info.status == "FAILED"]
    assert len(failed) == 1 and float(failed[0].data.params["optim.lr"]) == 1e38
    assert "non-finite" in failed[0].data.tags["failure.reason"]
    client = MlflowClient(uri)
    for child in children:
        if child is not failed[0]:
            assert_child_complete(client, child, tmp_path)


@pytest.mark.slow
def test_a_job_that_shares_only_the_sweep_folder_finds_its_parent(tmp_path: Path) -> None:
    """No callback in the job's process and nothing in its environment: the sweep folder's file
    names the parent (a job on another machine that shares the folder)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client, experiment = tracking.connect(uri, "fallback")
    parent = tracking.start_run(client, experiment, "sweep made elsewhere", {"role": "sweep"})
    (tmp_path / "multirun").mkdir()
    (tmp_path / "multirun" / PARENT_FILE).write_text(parent)
    env = {PARENT_ENV: ""}
    sweep(
        tmp_path,
        uri,
        "fallback",
        "~hydra.callbacks.sweep",
        "optim=adam",
        "fn=online",
        env=env,
    )
    [(found, children)] = sweeps(uri, "fallback")
    assert found.info.run_id == parent and len(children) == 1
    assert_child_complete(client, children[0], tmp_path)
