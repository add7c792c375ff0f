"""The command line around one job: one-line errors, exit codes and signals (`src.main` is the
Hydra entry point that calls `job`).

Errors a user can act on end the process with ONE line on stderr and a non-zero status, without a
Python traceback (set HYDRA_FULL_ERROR=1 for the full trace):

- an invalid config value (`src.config.checks.ConfigError`): exit 2, before any compute or store
  call; a tracking URI that carries a password even before Hydra writes its files
  (`RefuseSecrets`);
- an unusable tracking store (`src.tracking.store.StoreError`, or a store error while logging):
  exit 1;
- a diverged run (`src.job.JobFailed`; the run is FAILED in the store): exit 1;
- Ctrl-C or SIGTERM: the running job's run is KILLED with its trajectory so far logged (and the
  sweep's parent, by `src.tracking.sweep`); exit 130 (SIGINT) or 143 (SIGTERM).

In a multirun a failed job does not stop the sweep: it returns a `JobFailure`, the other jobs run,
and `src.tracking.sweep.SweepRun` prints one line per failed job at the end and exits non-zero.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig, OmegaConf

from src.build import check
from src.config.checks import ConfigError
from src.config.tracking_checks import environment_reads, uri_password_error
from src.job import JobFailed, default_name, run_job
from src.provenance import named_choices
from src.report.terminal import job_done
from src.search.objective import search_trial
from src.tracking import store as tracking
from src.tracking.resume import finished_jobs
from src.tracking.sweep import JobFailure, full_error, interrupted, parent_run_id, swept_keys

# store failures after the run started (tracking.retry has already retried the transient ones)
STORE_ERRORS = (tracking.StoreError, MlflowException, sqlite3.Error)
_signal_received: list[int] = []
log = logging.getLogger(__name__)
CHOICE_GROUPS = ("optim", "fn", "projection", "schedule", "task", "data")  # logged as params


def job(cfg: DictConfig) -> Any:
    """Run the Hydra job `cfg`: its result, or in a multirun a `JobFailure` for a known error."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    choices = {
        group: str(option)
        for group, option in hc.runtime.choices.items()
        if group in CHOICE_GROUPS and option not in (None, "null")
    }
    choices = named_choices(choices, list(hc.overrides.task), cfg)  # `SGD`, if _target_ is given
    swept = swept_keys() if multirun else []
    name = default_name(cfg, choices, swept)
    _stop_on_sigterm()
    if multirun and interrupted(hc.sweep.dir):
        raise KeyboardInterrupt  # the sweep was stopped before this job started: no run
    if not multirun and cfg.tracking.get("resume"):
        print("error: tracking.resume: resumes a sweep: add -m", file=sys.stderr)
        sys.exit(2)
    if multirun and hc.job.num in finished_jobs():  # a resumed sweep's job that FINISHED before
        log.info("job %d (%s): FINISHED before, in the sweep resumed: not run again",
                 hc.job.num, name)  # fmt: skip
        return None
    run = functools.partial(
        run_job,
        parent_run_id=parent_run_id(hc.sweep.dir) if multirun else None,
        hydra_dir=Path(hc.runtime.output_dir),
        job_number=hc.job.num if multirun else None,
    )
    try:
        if cfg.get("search") is not None:  # a search trial: its sweeper gets the objective
            check(cfg)  # the trial's and its reference's values, before either runs
            reference = next(
                (str(v) for k, v in hc.runtime.choices.items() if k.endswith("@search.reference")),
                None,
            )
            return search_trial(cfg, run, name, choices, reference)
        result = run(cfg, run_name=name, choices=choices)
        uri, experiment = str(cfg.tracking.uri), str(cfg.tracking.experiment)
        job_done(name, "FINISHED", result.finals(), result.info["run_id"], sweep=multirun,
                 uri=uri, experiment=experiment)  # fmt: skip
        return result
    except (ConfigError, JobFailed, *STORE_ERRORS) as error:
        if full_error():
            raise
        message = describe(error, str(cfg.tracking.uri))
        code = 2 if isinstance(error, ConfigError) else 1
        if not multirun:
            print(f"error: {message}", file=sys.stderr)
            sys.exit(code)
        label = f"job {hc.job.num} ({hc.job.override_dirname or 'defaults'})"
        message = f"{label}: {message.removeprefix(f'{name}: ')}"
        print(f"error: {message}", file=sys.stderr)
        return JobFailure(hc.job.num, label, message, code)


class RefuseSecrets(Callback):
    """A tracking URI that carries a password is refused before Hydra writes anything: one line,
    exit 2. (Hydra writes the run's `.hydra/*.yaml`, and a sweep's `multirun.yaml`, with the
    config as typed before the task function runs; `on_run_start`/`on_multirun_start` come
    first.) Listed before the sweep's callback in conf/config.yaml."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _refuse_secrets(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _refuse_secrets(config)


def _refuse_secrets(config: DictConfig) -> None:
    why = next(environment_reads(OmegaConf.to_container(config, resolve=False)), None)
    try:
        uri = OmegaConf.select(config, "tracking.uri", throw_on_resolution_failure=False)
    except Exception:  # noqa: BLE001  (an unresolvable URI is the checks' to report)
        uri = None
    why = why or uri_password_error(uri)
    if why and not full_error():
        print(f"error: {why}", file=sys.stderr)
        sys.exit(2)
    if why:
        raise ConfigError(why)


def describe(error: BaseException, uri: str) -> str:
    """One line for the user; store errors name the (redacted) store; no password in clear."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, (MlflowException, sqlite3.Error)):
        line = f"tracking.uri={uri}: store error: {line[:300]}"
    return tracking.redact(line)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM behaves as Ctrl-C: the running job stops, logs what it has and is marked KILLED.
    A second SIGTERM during that clean-up ends the process at once (as the default action)."""
    if _signal_received:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _signal_received.append(signum)
    raise KeyboardInterrupt


def _stop_on_sigterm() -> None:
    """In any process that runs a job (a joblib worker, a submitit job, which replaces it with a
    handler that ignores SIGTERM), SIGTERM stops the job as Ctrl-C does: the launching process of a
    parallel sweep forwards it to its workers (`src.tracking.sweep`) so each run ends KILLED with
    its trajectory. Not where the sweep itself handles signals, and only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if not getattr(signal.getsignal(signal.SIGTERM), "sweep_forwarder", False):
        signal.signal(signal.SIGTERM, _terminate)


def _redact_log_records() -> None:
    """No tracking-URI password in any log line, whatever the logging config (Hydra's launcher
    logs each job's overrides, tracking.uri included)."""
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a malformed record is logging's to report)
            return record
        redacted = tracking.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return record

    logging.setLogRecordFactory(factory)


def run(main: Callable[[], Any]) -> None:
    """Call the Hydra entry point `main` with SIGTERM as Ctrl-C and one line per known error."""
    signal.signal(signal.SIGTERM, _terminate)
    _redact_log_records()
    try:
        main()
    except KeyboardInterrupt:
        if full_error():
            raise
        signum = _signal_received[0] if _signal_received else signal.SIGINT
        print(
            f"interrupted by {signal.Signals(signum).name}: the running job's run, if any, is "
            "marked KILLED in the store with its trajectory so far",
            file=sys.stderr,
        )
        sys.exit(128 + signum)
