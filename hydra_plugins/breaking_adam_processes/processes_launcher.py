"""A Hydra launcher that runs jobs in parallel processes and survives a worker's death:
`hydra/launcher=processes hydra.launcher.n_jobs=N`.

Hydra's joblib launcher runs its jobs on loky, which ends every worker when one dies (kill -9, the
OOM killer): the healthy jobs die with it. Here each of `n_jobs` workers is a fresh interpreter
(`spawn`) that takes one job at a time from this process over a pipe. A worker that ends while it
holds a job costs that job only: this process logs one line naming the job and how its worker
ended, starts another worker if jobs remain, and gives the job the value `on_death(job config,
how)` returns (a function named in the config, `src.tracking.worker_death.job_died`: this plugin
imports nothing of the project); with no `on_death` the job is FAILED with `WorkerDied`.

Each job runs exactly as under the joblib launcher (Hydra's `run_job` in the worker, with the
launching process's Hydra singletons), so callbacks, folders and runs are the same.
"""

import gc
import logging
import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class ProcessesLauncherConf:
    _target_: str = "hydra_plugins.breaking_adam_processes.processes_launcher.ProcessesLauncher"
    n_jobs: int = -1  # workers at once; -1: one per CPU
    on_death: str | None = "src.tracking.worker_death.job_died"  # (job config, how) -> its value


ConfigStore.instance().store(
    group="hydra/launcher", name="processes", node=ProcessesLauncherConf, provider="breaking-adam"
)


class WorkerDied(RuntimeError):
    """A job's worker process ended before the job returned."""


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection
    job: tuple[int, Sequence[str]] | None = None


class ProcessesLauncher(Launcher):
    def __init__(
        self, n_jobs: int = -1, on_death: str | None = ProcessesLauncherConf.on_death
    ) -> None:
        if n_jobs == 0 or n_jobs < -1:
            raise ValueError(f"hydra.launcher.n_jobs={n_jobs}: a number of workers ≥ 1, or -1")
        self.n_jobs = n_jobs if n_jobs > 0 else (os.cpu_count() or 1)
        self.on_death = on_death
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self._names: dict[int, str] = {}  # job number -> the overrides that set it apart

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        if self.config is None or self.hydra_context is None or self.task_function is None:
            raise RuntimeError("ProcessesLauncher.launch before setup")
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = list(enumerate(job_overrides, start=initial_job_idx))
        workers = min(self.n_jobs, len(jobs))
        log.info("%d worker processes are launching %d jobs", workers, len(jobs))
        for number, overrides in jobs:
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
        payload = cloudpickle.dumps(
            (self.hydra_context, self.config, self.task_function, Singleton.get_state())
        )
        shared = set.intersection(*(set(o) for o in job_overrides)) if len(jobs) > 1 else set()
        self._names = {
            n: " ".join(o for o in filter_overrides(ov) if o not in shared) for n, ov in jobs
        }
        results = self._run(deque(jobs), payload)
        return [results[number] for number, _ in jobs]

    def _run(self, pending: deque, payload: bytes) -> dict[int, JobReturn]:
        results: dict[int, JobReturn] = {}
        context = multiprocessing.get_context("spawn")
        workers: list[_Worker] = []
        try:
            while pending or any(w.job for w in workers):
                while pending and len(workers) < self.n_jobs:
                    workers.append(_start(context, payload))
                for worker in workers:
                    if worker.job is None and pending:
                        worker.job = pending.popleft()
                        worker.conn.send(worker.job)
                busy = [w for w in workers if w.job is not None]
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    returned = _result(worker)
                    if returned is not None:
                        results[worker.job[0]] = returned
                        worker.job = None
                    elif not worker.process.is_alive():
                        results[worker.job[0]] = self._died(worker)
                        worker.conn.close()
                        workers.remove(worker)
        finally:
            for worker in workers:
                _stop(worker)
        return results

    def _died(self, worker: _Worker) -> JobReturn:
        """The return of the job whose worker ended under it (one line says which and how)."""
        number, overrides = worker.job
        how = _how(worker.process.exitcode)
        log.error(
            "job #%d (%s) died: its worker process (pid %d) %s; the other jobs go on",
            number, self._names.get(number, ""), worker.process.pid, how,
        )  # fmt: skip
        assert self.hydra_context is not None and self.config is not None
        config = _job_config(number, overrides, self.hydra_context, self.config)
        returned = JobReturn(overrides=list(overrides), cfg=config, status=JobStatus.FAILED)
        returned.return_value = WorkerDied(f"job #{number}: its worker process {how}")
        if self.on_death:
            returned.status = JobStatus.COMPLETED
            returned.return_value = get_method(self.on_death)(config, how)
        return returned


def _start(context: Any, payload: bytes) -> _Worker:
    mine, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, payload), daemon=False)
    process.start()
    theirs.close()
    return _Worker(process, mine)


def _result(worker: _Worker) -> JobReturn | None:
    """The worker's job's return if it has sent it, else None (nothing yet, or the worker died)."""
    try:
        if worker.conn.poll():
            return pickle.loads(worker.conn.recv_bytes())
    except (EOFError, OSError):
        pass
    return None


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode} before its job returned"


def _stop(worker: _Worker) -> None:
    """Ask an idle worker to end; a busy one (the launch was interrupted) is terminated."""
    try:
        if worker.job is None:
            worker.conn.send(None)
            worker.process.join(timeout=30)
    except OSError:
        pass
    if worker.process.is_alive():
        worker.process.terminate()
        worker.process.join(timeout=30)
    worker.conn.close()


def _serve(conn: Connection, payload: bytes) -> None:
    """A worker: run the jobs this pipe sends, one at a time, until it sends None."""
    hydra_context, config, task_function, singleton_state = pickle.loads(payload)
    setup_globals()
    Singleton.set_state(singleton_state)
    gc.freeze()  # the imports' objects (torch, MLflow, the task's modules): no job rescans them
    try:
        while (job := conn.recv()) is not None:
            number, overrides = job
            returned = _execute(number, overrides, hydra_context, config, task_function)
            conn.send_bytes(_pickled(returned))
    except (KeyboardInterrupt, EOFError):  # Ctrl-C (the job's run has ended KILLED), or no parent
        raise SystemExit(130) from None
    finally:  # what the jobs left: collected now (an unclosed file in a cycle is written), then
        gc.collect()  # the interpreter's teardown rescans none of what lives on (~1 s a worker)
        gc.freeze()


def _execute(
    number: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
) -> JobReturn:
    """One job, as Hydra's joblib launcher runs it in its workers."""
    sweep_config = _job_config(number, overrides, hydra_context, config)
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        config=sweep_config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _job_config(
    number: int, overrides: Sequence[str], hydra_context: HydraContext, config: DictConfig
) -> DictConfig:
    """Job `number`'s config (the sweep's with its overrides), its `hydra.job.id` and `num` set."""
    job_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_config):
        job_config.hydra.job.id = f"{job_config.hydra.job.name}_{number}"
        job_config.hydra.job.num = number
    return job_config


def _pickled(returned: JobReturn) -> bytes:
    """The job's return for the pipe; one whose value cannot be pickled is FAILED saying so."""
    try:
        return cloudpickle.dumps(returned)
    except Exception as error:  # noqa: BLE001  (any value a task may return)
        returned.status = JobStatus.FAILED
        returned.return_value = WorkerDied(f"its return could not be sent back: {error!r}")
        return cloudpickle.dumps(returned)
