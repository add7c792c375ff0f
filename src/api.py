"""The project from Python (a notebook): `run` one job or `sweep` many with the command line's own
overrides, and get back each job's result and MLflow run id.

    from src.api import run, sweep
    one = run("optim=amsgrad", "fn=online", "steps=100000")   # one.result.finals(), one.run_id
    many = sweep("optim=adam,amsgrad", "fn=online,stochastic", "steps=100000")

Configs are composed with Hydra's compose API from the project's `conf/` (and a user's folders,
`BREAKING_ADAM_USER_DIR`: docs/extending.md), expanded as Hydra's basic sweeper would
(`src.config.jobs`), every job checked before any runs (one `ConfigError` listing the invalid
jobs; nothing stored), then run by `src.job.run_job`: the same runs, names, tags and artifacts as
`python -m src.main -m` (without Hydra's job folders). A sweep's jobs are children of one parent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, open_dict

from src import PROJECT_ROOT
from src.build import check
from src.cli import CHOICE_GROUPS
from src.config.checks import ConfigError
from src.config.jobs import job_config, sweep_overrides, swept_keys
from src.config.registration import register
from src.engines.result import Result
from src.job import JobFailed, default_name, run_job
from src.provenance import named_choices
from src.tracking import store
from src.tracking.sweep import sweep_name, sweep_params


@dataclass
class Ran:
    """One job: its run's name and id, and what the engine returned (None if it failed)."""

    name: str
    run_id: str | None
    result: Result | None
    error: str = ""  # why it failed ('' if it finished)


@dataclass
class Swept:
    """A sweep: its parent run's id and its jobs, in Hydra's order."""

    parent_run_id: str
    jobs: list[Ran] = field(default_factory=list)


def run(*overrides: str) -> Ran:
    """One job, as `python -m src.main OVERRIDES` runs it; raises ConfigError (bad input, nothing
    stored) or JobFailed (its run FAILED, e.g. diverged)."""
    with _composing():
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        job = _job(cfg, list(overrides))
    check(job.cfg)
    result = run_job(job.cfg, run_name=job.name, choices=job.choices)
    return Ran(job.name, result.info["run_id"], result)


def sweep(*overrides: str) -> Swept:
    """Every job of `python -m src.main -m OVERRIDES` (conf/config.yaml's default sweep too), each
    a child run of one parent; a job that fails is recorded in its `Ran` and the others run."""
    with _composing():
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
        base = compose("config", overrides=fixed, return_hydra_config=True)
        with open_dict(base):
            base.hydra.overrides.task = list(overrides)
        planned = sweep_overrides(base)
        if planned is None:
            raise ConfigError(
                "hydra.sweeper: sweep() runs a grid (Hydra's basic sweeper); a search or a "
                "bisection runs from the command line (python -m src.main -m +search=...)"
            )
        loader = GlobalHydra.instance().config_loader()
        swept = swept_keys(base)
        jobs = [_job(loader.load_sweep_config(base, job), job, swept) for job in planned]
    invalid = []
    for number, job in enumerate(jobs):
        try:
            check(job.cfg)
        except ConfigError as error:
            invalid.append(f"job {number} ({job.name}): {error}")
    if invalid:
        raise ConfigError(f"{len(invalid)} of {len(jobs)} jobs are invalid: " + "; ".join(invalid))
    uri, experiment_name = str(base.tracking.uri), str(base.tracking.experiment)
    client, experiment = store.connect(uri, experiment_name)
    parent = store.start_run(client, experiment, sweep_name(swept, len(jobs)), {"role": "sweep"})
    store.log_params(client, parent, sweep_params(base))
    done = Swept(parent)
    status = "FINISHED"
    try:
        for number, job in enumerate(jobs):
            try:
                result = run_job(job.cfg, parent, job.name, None, job.choices, number)
                done.jobs.append(Ran(job.name, result.info["run_id"], result))
            except JobFailed as error:
                status = "FAILED"
                done.jobs.append(Ran(job.name, None, None, str(error)))
    except BaseException:
        store.end_run(client, parent, "KILLED")
        raise
    store.end_run(client, parent, status)
    return done


@dataclass
class _Job:
    cfg: DictConfig
    name: str
    choices: dict[str, str]


def _job(composed: DictConfig, overrides: list[str], swept: Sequence[str] = ()) -> _Job:
    """The job's own config, its options named truthfully and its run's name."""
    choices = {
        group: str(option)
        for group, option in composed.hydra.runtime.choices.items()
        if group in CHOICE_GROUPS and option not in (None, "null")
    }
    cfg = job_config(composed)
    choices = named_choices(choices, overrides, cfg)
    return _Job(cfg, default_name(cfg, choices, swept), choices)


@contextmanager
def _composing() -> Iterator[None]:
    """Hydra's compose API on the project's conf/, from any working directory."""
    register()
    GlobalHydra.instance().clear()  # a notebook's earlier initialize() would refuse a second
    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
        yield
