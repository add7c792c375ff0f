"""Optuna studies run by the project's Hydra sweeper (`hydra/sweeper=optuna`,
`hydra_plugins/breaking_adam_optuna/optuna_sweeper.py`, which holds its config and hands the sweep
here when one runs, so that Hydra's plugin scan in every `python -m src.main` loads no Optuna).

For each study the search plans (`optuna_space.plan`): open it in its RDB storage (loading it if it
exists), ask `n_jobs` trials at a time, launch them as one batch with the configured launcher, tell
each its objective — a trial whose job failed, returned no number or NaN is told FAIL — until
`n_trials` were added; then write `<sweep dir>/studies.yaml` and log the studies on the sweep's
parent run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from src.search import optuna_space as space
from src.tracking import store as tracking
from src.tracking.sweep import parent_run_id

log = logging.getLogger(__name__)


def suggest(trial: optuna.Trial, key: str, found: BaseDistribution) -> Any:
    """The trial's value for `key` from the distribution `found`."""
    if isinstance(found, FloatDistribution):
        return trial.suggest_float(key, found.low, found.high, log=found.log, step=found.step)
    if isinstance(found, IntDistribution):
        return trial.suggest_int(key, found.low, found.high, log=found.log, step=found.step)
    if isinstance(found, CategoricalDistribution):
        return trial.suggest_categorical(key, found.choices)
    raise TypeError(f"{key}: unsupported distribution {found!r}")


def trial_overrides(trial: optuna.Trial, plan: space.Plan, study: dict[str, str]) -> list[str]:
    """The trial's override list: the fixed values, the study's values, then the drawn ones."""
    fixed = {**plan.fixed, **study}
    chosen: dict[str, Any] = {key: suggest(trial, key, d) for key, d in plan.searched.items()}
    for parent, by_value in plan.conditional.items():
        current = chosen.get(parent, fixed.get(parent, fixed.get(f"+{parent}")))
        for key, found in by_value.get(str(current), {}).items():
            chosen[key] = suggest(trial, key, found)
    overrides = [k if k.startswith("~") and not v else f"{k}={v}" for k, v in fixed.items()]
    return overrides + [f"{k}={space.override_text(v)}" for k, v in chosen.items()]


def objective_value(value: Any) -> float | None:
    """The job's objective, or None (the trial FAILS) for a failed job or a NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


@dataclass
class Studies:
    """One optuna sweep: the sweeper's settings, the composed config, the launcher its trials run
    on, and the index of the next job."""

    sampler: dict[str, Any]
    direction: str
    study_name: str | None
    storage: str | None
    n_trials: int
    n_jobs: int
    params: dict[str, Any]
    conditional: dict[str, Any]
    config: DictConfig
    launcher: Launcher
    job_idx: int = 0

    def sweep(self, arguments: list[str]) -> list[dict[str, Any]]:
        optuna.logging.disable_default_handler()  # through Hydra's logging, as the rest
        optuna.logging.enable_propagation()
        plan = space.plan(self.params, arguments, self.conditional)
        storage = space.storage_url(self.storage, str(self.config.tracking.uri))
        if storage is None and self.storage == "auto":
            log.warning("the study stays in memory (no SQLite or PostgreSQL store): not resumable")
        preset = str(OmegaConf.select(self.config, "hydra.runtime.choices.search") or "search")
        studies = list(plan.studies())
        results = []
        for values in studies:
            if self.study_name:
                suffix = " · ".join(f"{k}={v}" for k, v in values.items())
                name = f"{self.study_name} · {suffix}" if len(studies) > 1 else self.study_name
            else:
                name = space.study_name(preset, values, plan)
            results.append(self.search(name, storage, plan, values))
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create({"studies": results}), sweep_dir / "studies.yaml")
        self._log_parent(results, storage, sweep_dir)
        return results

    def search(
        self, name: str, storage: str | None, plan: space.Plan, values: dict[str, str]
    ) -> dict[str, Any]:
        """Add `n_trials` trials to the study `name`, `n_jobs` at a time; a summary of it."""
        before = 0
        if storage is not None:
            summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
            before = next((s.n_trials for s in summaries if s.study_name == name), 0)
        seed = self.sampler.get("seed")
        sampler = space.make_sampler(
            str(self.sampler.get("name", "tpe")),
            None if seed is None else int(seed) + before,
            self.sampler.get("options"),
        )
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            sampler=sampler,
            direction=self.direction,
            load_if_exists=True,
        )
        added = 0
        while added < self.n_trials:
            batch = [study.ask() for _ in range(min(self.n_jobs, self.n_trials - added))]
            self.run_batch(study, batch, plan, values)
            added += len(batch)
        finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
        best = study.best_trial if finished else None
        print(
            f"search: study '{name}': {added} trials added, {len(study.trials)} in all"
            + (f"; best {best.value:.6g} ({_shown(best.params)})" if best else "")
        )
        return {
            "study": name,
            "values": dict(values),
            "trials_added": added,
            "trials": len(study.trials),
            "best_value": best.value if best else None,
            "best_params": dict(best.params) if best else {},
            "best_trial": best.number if best else None,
        }

    def run_batch(
        self, study: optuna.Study, batch: list[optuna.Trial], plan: space.Plan, values: dict
    ) -> None:
        """Launch the trials of `batch` as one batch and tell each its result; a trial left
        untold (a job raised, Ctrl-C) is told FAIL, so the study holds no RUNNING trial."""
        overrides = []
        for number, trial in enumerate(batch):
            overrides.append(trial_overrides(trial, plan, values))
            trial.set_user_attr("hydra_job", self.job_idx + number)
            trial.set_user_attr("sweep_dir", str(self.config.hydra.sweep.dir))
        told: set[int] = set()
        try:
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            for trial, ret in zip(batch, returns, strict=True):
                value = objective_value(ret.return_value)  # re-raises a job's exception
                if value is None:
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, value)
                told.add(trial.number)
        finally:
            for trial in batch:
                if trial.number not in told:
                    study.tell(trial, state=TrialState.FAIL)

    def _log_parent(
        self, results: list[dict[str, Any]], storage: str | None, sweep_dir: Path
    ) -> None:
        parent = parent_run_id(sweep_dir.resolve())
        if parent is None:
            return
        client, _ = tracking.connect(
            str(self.config.tracking.uri), str(self.config.tracking.experiment)
        )
        tracking.log_params(
            client,
            parent,
            {
                "optuna.study": " | ".join(r["study"] for r in results),
                "optuna.storage": tracking.redact(storage or "in memory"),
                "optuna.sampler": str(self.sampler.get("name", "tpe")),
            },
        )
        metrics = {
            "optuna.trials_added": float(sum(r["trials_added"] for r in results)),
            "optuna.trials_total": float(sum(r["trials"] for r in results)),
        }
        tracking.log_metrics(client, parent, metrics, step=0)


def _shown(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )
