"""Bad input refused in real processes (`python -m src.main`): exit 2, one line naming the key
and what is allowed, before any compute, and nothing stored — no run in an existing store, and no
store, run folder or sweep folder made where there was none. The checks themselves, in process:
tests/config/test_checks.py."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings

from tests.config.test_checks import OUT_OF_RANGE, SMALL
from tests.conftest import run_main


def runs_in(uri: str) -> list[tuple[str, str]]:
    """(name, status) of every run in the SQLite store at `uri`, read with sqlite3 directly."""
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
        return list(db.execute("select name, status from runs")) if "runs" in tables else []


@pytest.mark.slow
@settings(max_examples=2, deadline=None)
@given(OUT_OF_RANGE)
def test_values_out_of_range_in_a_real_process_leave_no_run(case: tuple[str, str]) -> None:
    key, override = case
    extra = ["fn=stochastic"] if key == "fn.p" else []
    folder = Path(tempfile.mkdtemp(prefix="ba-invalid-"))
    try:
        uri = f"sqlite:///{folder}/mlflow.db"
        proc = run_main(
            "steps=40",
            "log.points=8",
            *extra,
            *override.split(),
            f"tracking.uri={uri}",
            f"hydra.run.dir={folder}/out",
            check=False,
        )
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"error: {key}")
        assert runs_in(uri) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_cli_invalid_value_exits_2_with_one_line_and_no_run(store: str, tmp_path: Path) -> None:
    proc = run_main(
        "optim.lr=-1", *SMALL, f"tracking.uri={store}", f"hydra.run.dir={tmp_path}/out", check=False
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines == ["error: optim.lr=-1.0: must be a number > 0"], proc.stderr
    assert runs_in(store) == []
    # HYDRA_FULL_ERROR=1 gives the whole trace instead
    proc = run_main(
        "optim.lr=-1",
        *SMALL,
        f"tracking.uri={store}",
        f"hydra.run.dir={tmp_path}/out",
        check=False,
        env={"HYDRA_FULL_ERROR": "1"},
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr
    assert runs_in(store) == []


def refused(tmp_path: Path, *arguments: str) -> str:
    """`python -m src.main ARGUMENTS` into a store and folders under `tmp_path` that do not exist:
    it must exit 2 with one line on stderr and leave the store and every folder unmade; the line."""
    database = tmp_path / "mlflow.db"
    proc = run_main(
        *arguments,
        f"tracking.uri=sqlite:///{database}",
        f"hydra.run.dir={tmp_path}/out",
        f"hydra.sweep.dir={tmp_path}/multirun",
        check=False,
        seeded_store=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert not database.exists() and not (tmp_path / "out").exists()
    assert not (tmp_path / "multirun").exists()
    return lines[0]


@pytest.mark.parametrize(
    "arguments",
    [
        ("optim=nope",),  # a single run: Hydra's own error was 25 lines and exit 1
        ("-m", "optim=adam,nope", "fn=online"),  # a sweep: no line named the options
        ("+experiment=nope",),  # an appended group
        ("hydra/launcher=nope",),  # one of Hydra's groups, plugins' options included
    ],
    ids=["run", "sweep", "appended", "hydra-group"],
)
def test_an_option_no_config_group_has_is_one_line_naming_the_options(
    arguments: tuple[str, ...], tmp_path: Path
) -> None:
    """A group option that does not exist (a typo: `optim=adamm`) is refused in one line that
    names the group's options, exit 2, before the store or a run folder is touched."""
    line = refused(tmp_path, *arguments, *SMALL)
    group = next(a for a in arguments if "nope" in a).lstrip("+").split("=")[0]
    assert line.startswith(f"error: {group}=nope: no such option of {group} (its options: ")
    expected = {"optim": ["adam", "amsgrad", "yogi"], "experiment": ["beta_grid"]}.get(
        group, ["basic", "joblib", "processes"]
    )
    assert all(f" {name}," in line or f" {name})" in line for name in expected)


@pytest.mark.parametrize(
    ("override", "allowed"),
    [
        ("stepz=10", "steps"),
        ("optim.lrr=0.1", "lr"),
        ("log.pointz=5", "points"),
        ("hydra.launcher.x=1", "none"),  # the basic launcher takes no key
    ],
)
def test_a_key_the_config_does_not_have_is_one_line_naming_the_keys(
    override: str, allowed: str, tmp_path: Path
) -> None:
    """A typo in a key (`stepz=10`: Hydra's six lines and exit 1) is one line naming the keys
    beside it, exit 2, nothing stored, as `+stepz=10` already was."""
    line = refused(tmp_path, override)
    assert line.startswith(f"error: {override}: unknown key (allowed: "), line
    assert f" {allowed}," in line or f" {allowed})" in line, line


@pytest.mark.parametrize(
    ("override", "allowed"), [("stepz=10", "steps"), ("hydra.launcher.x=1", "none")]
)
def test_a_sweeps_key_the_config_does_not_have_is_one_line_naming_the_keys(
    override: str, allowed: str, tmp_path: Path
) -> None:
    """In a sweep too: Hydra composes its config with the values it does not sweep before any job
    (its six lines and exit 1); a swept key is each job's, checked by the sweep's own check."""
    line = refused(tmp_path, "-m", override, "optim=adam,amsgrad", "fn=online", *SMALL)
    assert line.startswith(f"error: {override}: unknown key (allowed: "), line
    assert f" {allowed}," in line or f" {allowed})" in line, line


@pytest.mark.parametrize(
    ("override", "cause"),
    [
        ("steps=abc", "Value 'abc' of type 'str' could not be converted to Integer"),
        ("dtype=null", "field 'dtype' is not Optional"),
    ],
)
def test_a_value_the_schema_cannot_take_is_one_line(
    override: str, cause: str, tmp_path: Path
) -> None:
    """A value of the wrong type for the typed schema (Hydra's five lines and exit 1) is one line
    naming the override and the cause, exit 2, nothing stored."""
    assert refused(tmp_path, override) == f"error: {override}: {cause}"


@pytest.mark.slow
def test_multirun_with_an_invalid_job_runs_nothing(store: str, tmp_path: Path) -> None:
    """Every job is validated before any job computes: no parent run, no child run."""
    proc = run_main(
        "-m",
        "optim=adam",
        "optim.lr=0.01,-1",
        "fn=online,stochastic",
        *SMALL,
        f"tracking.uri={store}",
        f"hydra.sweep.dir={tmp_path}/multirun",
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0] == "multirun: 2 of 4 jobs are invalid; nothing was run"
    assert len(lines) == 3 and all("optim.lr=-1.0: must be a number > 0" in x for x in lines[1:])
    assert runs_in(store) == []
    assert "Launching" not in proc.stdout


@pytest.mark.slow
def test_config_that_runs_code_runs_nothing_in_a_real_process(store: str, tmp_path: Path) -> None:
    """`shutil.copy` named inside an optimizer option is refused before anything runs: the copy
    is never made, no run exists, exit 2 with one line."""
    source, target = tmp_path / "secret.txt", tmp_path / "copied.txt"
    source.write_text("secret")
    proc = run_main(
        f"optim.amsgrad={{_target_:shutil.copy,src:'{source}',dst:'{target}'}}",
        *SMALL,
        f"tracking.uri={store}",
        f"hydra.run.dir={tmp_path}/out",
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: optim.amsgrad._target_="), lines
    assert not target.exists()
    assert runs_in(store) == []


@pytest.mark.slow
def test_refused_values_leave_no_run_in_a_real_process(store: str, tmp_path: Path) -> None:
    proc = run_main(
        "fn.C=1.1e299", *SMALL, f"tracking.uri={store}", f"hydra.run.dir={tmp_path}/o", check=False
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "fn: its gradient" in lines[0], lines
    assert runs_in(store) == []


@pytest.mark.slow
def test_an_unusable_sweep_folder_fails_before_the_parent_run(store: str) -> None:
    proc = run_main(
        "-m",
        "fn=online,stochastic",
        *SMALL,
        f"tracking.uri={store}",
        "hydra.sweep.dir=/proc/x",
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: hydra.sweep.dir='/proc/x': "), lines
    assert runs_in(store) == []


@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", ["0", "-3"])
def test_a_process_launcher_without_workers_fails_before_the_parent_run(
    store: str, tmp_path: Path, n_jobs: str
) -> None:
    proc = run_main(
        "-m",
        "hydra/launcher=processes",
        f"hydra.launcher.n_jobs={n_jobs}",
        *SMALL,
        f"tracking.uri={store}",
        f"hydra.sweep.dir={tmp_path}/multirun",
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines == [
        f"error: hydra.launcher.n_jobs={n_jobs}: must be a number of worker processes ≥ 1, "
        "or -1 (one per CPU); nothing was run"
    ], lines
    assert runs_in(store) == []
