"""A sweep checked as a whole before its parent run exists: every job composed and checked
(`src.build.check`), its folder writable. `SweepRun` is the sweep's Hydra callback with these
checks (conf/config.yaml, `hydra.callbacks.sweep`).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from src.build import build, check, job_kind, notes
from src.config.jobs import job_configs, sweep_overrides, swept_keys
from src.tracking import store as tracking
from src.tracking.sweep import SweepRun as ParentRun


class SweepRun(ParentRun):
    """The sweep's parent run (`src.tracking.sweep.SweepRun`), its jobs checked by `check_sweep`."""

    def __init__(self) -> None:
        super().__init__(check=check_sweep)


class CheckRunDir(Callback):
    """A single run's folder (`hydra.run.dir`) checked before Hydra makes it: one line, exit 2
    (conf/config.yaml, `hydra.callbacks.run_dir`; a sweep's folder: `check_sweep_dir`)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable(config, "hydra.run.dir")


class SearchSweepRun(ParentRun):
    """A search's parent run (conf/search/*.yaml): its search space checked first (bad bounds: one
    line, exit 2), then every job, by the Optuna sweeper's `check_search`."""

    def __init__(self) -> None:
        from src.search.optuna_space import check_search  # noqa: PLC0415  (Optuna: only in a search)

        super().__init__(
            check=functools.partial(check_search, check_sweep=check_sweep, check_job=check)
        )


def check_sweep(config: DictConfig) -> tuple[int, list[str], list[str]]:
    """Every job of a multirun checked before any runs: (number of jobs, one line per invalid
    job, the swept keys). Task jobs that differ only in keys a task ignores (a swept fn) would
    repeat each other: each repeat is invalid. (`SweepRun` calls it before the parent run
    exists.) An unusable sweep folder (`hydra.sweep.dir`) ends the process
    here: one line, exit 2."""
    check_sweep_dir(config)
    check_launcher(config)
    check_resumable(config)
    jobs, problems, seen, warnings = 0, [], {}, {}
    for label, composed in job_configs(config):
        jobs += 1
        try:
            if isinstance(composed, Exception):
                raise composed
            check(composed)
        except Exception as error:  # noqa: BLE001  (each problem is one line)
            text = str(error).strip()
            problems.append(f"{label}: {text.splitlines()[0] if text else type(error).__name__}")
            continue
        for line in [*notes(composed), *_seed_note(composed, swept_keys(config))]:
            warnings.setdefault(line, label)
        ignored = job_kind(composed).ignores
        if ignored:
            tree = OmegaConf.to_container(composed, resolve=True, enum_to_str=True)
            for key in ignored:
                tree.pop(key, None)
            same = seen.setdefault(repr(sorted(tracking.flatten(tree).items())), label)
            if same != label:
                problems.append(
                    f"{label}: repeats {same}: a task ignores {', '.join(ignored)}; "
                    "sweep none of them (e.g. pin fn=online)"
                )
    for line in warnings:  # each once for the sweep, not once a job
        print(f"warning: {line}", file=sys.stderr)
    if sweep_overrides(config) is None:  # a search: the trials it plans (0: unknown, a bisection)
        jobs = 0 if problems else int(OmegaConf.select(config, "hydra.sweeper.n_trials") or 0)
    return jobs, problems, swept_keys(config)


def _seed_note(composed: DictConfig, swept: list[str]) -> list[str]:
    """A swept seed on a deterministic problem: its jobs repeat one run."""
    if "seed" not in swept or composed.get("task") is not None:
        return []
    fn = build(composed.fn)
    if getattr(fn, "random", False):
        return []
    return [
        f"seed is swept but fn {type(fn).__name__} is deterministic: its jobs repeat one run "
        "(sweep a random fn, e.g. fn=stochastic)"
    ]


def check_sweep_dir(config: DictConfig) -> None:
    """Exit 2 with one line if the sweep's folder cannot be created or written."""
    check_writable(config, "hydra.sweep.dir")


def check_launcher(config: DictConfig) -> None:
    """Exit 2 with one line if the process launcher's `n_jobs` is not a number of workers."""
    launcher = OmegaConf.select(config, "hydra.launcher") or {}
    if not str(launcher.get("_target_", "")).endswith(".ProcessesLauncher"):
        return
    n_jobs = launcher.get("n_jobs")
    if not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1):
        print(
            f"error: hydra.launcher.n_jobs={n_jobs}: must be a number of worker processes ≥ 1, "
            "or -1 (one per CPU); nothing was run",
            file=sys.stderr,
        )
        raise SystemExit(2)


def check_writable(config: DictConfig, key: str) -> None:
    """Exit 2 with one line if the folder at `key` cannot be created or written."""
    if "hydra" not in config:
        return
    folder = Path(str(OmegaConf.select(config, key)))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        why = error.strerror or type(error).__name__
        print(
            f"error: {key}={str(folder)!r}: cannot create or write it ({why}); nothing was run",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def check_resumable(config: DictConfig) -> None:
    """Exit 2 with one line if `tracking.resume` asks to resume a sweep whose jobs are not known in
    advance (a search or a bisection: their job numbers do not name the same jobs again)."""
    resume = OmegaConf.select(config, "tracking.resume", default=None)
    if resume and sweep_overrides(config) is None:
        print(
            f"error: tracking.resume={resume}: only a grid sweep (Hydra's basic sweeper) "
            "resumes; a search continues its study by running the same command again; "
            "nothing was run",
            file=sys.stderr,
        )
        raise SystemExit(2)
