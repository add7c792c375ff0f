"""A Hydra sweeper on Optuna's ask-and-tell API (`hydra/sweeper=optuna`, docs/search.md).

Each trial is one job of the ordinary runner (a child run of the sweep's parent) that returns its
scale-free objective (`src.search.objective`). The sweeper

1. reads the search from `params` and the command line (`src.search.optuna_space.plan`: fixed
   values, plain lists — one study per value —, distributions in Hydra's syntax, and
   `conditional` keys);
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

This module is the plugin Hydra finds: its config and the `Sweeper`. Hydra's plugin scan imports
it in every `python -m src.main`, so the studies themselves (`src.search.optuna_studies`, which
loads Optuna) are imported only when a search runs.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


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
        self.settings = {
            "sampler": _plain(sampler),
            "direction": direction,
            "study_name": study_name,
            "storage": storage,
            "n_trials": int(n_trials),
            "n_jobs": int(n_jobs),
            "params": _plain(params),
            "conditional": _plain(conditional),
        }

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[dict[str, Any]]:
        from src.search.optuna_studies import Studies  # noqa: PLC0415  (Optuna: only in a search)

        studies = Studies(**self.settings, config=self.config, launcher=self.launcher)
        return studies.sweep(arguments)


def _plain(node: Any) -> dict[str, Any]:
    if node is None:
        return {}
    return (
        OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else dict(node)
    )
