"""A Hydra sweeper on Optuna's ask-and-tell API (`hydra/sweeper=optuna`, docs/search.md).

Each trial is one job of the ordinary runner (a child run of the sweep's parent) that returns its
scale-free objective (`src.search.objective`). The sweeper

1. reads the search from `params` and the command line (`space.plan`: fixed values, plain lists —
   one study per value —, distributions in Hydra's syntax, and `conditional` keys);
2. opens each study in an RDB storage (`storage: auto`: `<dir>/optuna.db` beside the SQLite MLflow
   store `<dir>/mlflow.db`; `<name>_optuna` on the PostgreSQL server) under a name made of the
   preset and what it searches (`study_name` to choose one), loading it if it exists: the same
   command again continues the study, its trial numbers counting up;
3. asks `n_jobs` trials at a time, hands them to the configured launcher as one batch
   (`launcher.launch(batch, initial_job_idx)`), tells each its objective — a trial whose job
   failed, returned no number or NaN is told FAIL — until `n_trials` were added.

The sampler is seeded with `sampler.seed` plus the trials the study already holds, so the same
command on a fresh store gives the same trials and a continued study does not repeat its start.
At the end it logs on the sweep's parent run the params `optuna.study`, `optuna.storage`,
`optuna.sampler` and the metrics `optuna.trials_added`, `optuna.trials_total`, and writes
`<sweep dir>/studies.yaml` (each study's best value and parameters).
"""

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from hydra_plugins.breaking_adam_optuna import space

log = logging.getLogger(__name__)


@dataclass
class SamplerConf:
    name: str = "tpe"  # tpe | cmaes | random | gp
    seed: int | None = None  # the same seed, the same trials (on a fresh store)
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the sampler


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.breaking_adam_optuna.optuna_sweeper.OptunaSweeper"
    sampler: SamplerConf = field(default_factory=SamplerConf)
    direction: str = "maximize"
    study_name: str | None = None  # null: the preset and what it searches
    storage: str | None = "auto"  # auto: beside the MLflow store; null: in memory; or an RDB URL
    n_trials: int = 20  # trials added per study by one command
    n_jobs: int = 1  # trials asked at a time and launched as one batch
    params: dict[str, Any] = field(default_factory=dict)  # key: value, list or range
    conditional: dict[str, Any] = field(default_factory=dict)  # key: {value: {key: range}}


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="breaking-adam"
)


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


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any,
        direction: str = "maximize",
        study_name: str | None = None,
        storage: str | None = "auto",
        n_trials: int = 20,
        n_jobs: int = 1,
        params: Any = None,
        conditional: Any = None,
    ) -> None:
        self.sampler = (
            OmegaConf.to_container(sampler) if isinstance(sampler, DictConfig) else sampler
        )
        self.direction, self.study_name, self.storage = direction, study_name, storage
        self.n_trials, self.n_jobs = int(n_trials), int(n_jobs)
        self.params = _plain(params)
        self.conditional = _plain(conditional)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.job_idx = 0

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
        from src.tracking import store as tracking
        from src.tracking.sweep import parent_run_id

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


def _plain(node: Any) -> dict[str, Any]:
    if node is None:
        return {}
    return (
        OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else dict(node)
    )


def _shown(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )
