"""The project's default sweeper (`hydra/sweeper=checked`, conf/config.yaml): Hydra's basic sweep
without its batch check.

The jobs are the cartesian product of the swept values, in the basic sweeper's order
(`src.config.jobs.sweep_overrides`: `hydra.sweeper.params` first, then the command line), launched
as one batch (or `max_batch_size` at a time) by the configured launcher (basic, joblib, submitit,
Ray). Hydra's basic sweeper composes every job once more before launching it, to check that it
composes; here the sweep's own check (`src.sweep_checks.check_sweep`, run by the parent run's
callback before anything is stored) has already composed and checked every job, so a job is
composed twice (the check, the launcher), not three times (~70–90 ms a job). Written on Hydra's
public `Sweeper` interface, as the bisection and Optuna sweepers are.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class CheckedSweeperConf:
    _target_: str = "hydra_plugins.breaking_adam_checked.checked_sweeper.CheckedSweeper"
    params: dict[str, str] = field(default_factory=dict)  # swept values, as the basic sweeper's
    max_batch_size: int | None = None  # jobs handed to the launcher at a time (None: all at once)


ConfigStore.instance().store(
    group="hydra/sweeper", name="checked", node=CheckedSweeperConf, provider="breaking-adam"
)


class CheckedSweeper(Sweeper):
    """Every job of the cartesian product, launched as one batch (see the module docstring)."""

    def __init__(
        self, params: dict[str, str] | None = None, max_batch_size: int | None = None
    ) -> None:
        self.params = params or {}
        self.max_batch_size = max_batch_size
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from src.config.jobs import sweep_overrides

        assert self.config is not None and self.launcher is not None
        jobs = sweep_overrides(self.config)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        size = self.max_batch_size or max(len(jobs), 1)
        returns = []
        for start in range(0, len(jobs), size):
            results = self.launcher.launch(jobs[start : start + size], initial_job_idx=start)
            for result in results:
                _ = result.return_value  # a job that raised raises here, as in the basic sweeper
            returns.append(results)
        return returns
