"""A Hydra launcher that runs many jobs as one computation: `hydra/launcher=batched`.

Every job's config is composed first; the launcher hands them all to `precompute` (a function
named in its config, `src.batched.precompute`: this plugin imports nothing of the project), which
computes the groups of jobs that can share one pass of the loop and keeps their results. Then the
jobs run one after another in this process, exactly as under Hydra's basic launcher (each its own
folder, callbacks, MLflow run): a job computed ahead logs its result, the others compute as usual.
`precompute`'s lines (what ran together, or why a group runs job by job) are logged first.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.breaking_adam_batched.batched_launcher.BatchedLauncher"
    precompute: str = "src.batched.precompute"  # (job configs) -> lines; keeps results ahead


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="breaking-adam"
)


class BatchedLauncher(Launcher):
    def __init__(self, precompute: str = BatchedLauncherConf.precompute) -> None:
        self.precompute = precompute
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        if self.config is None or self.hydra_context is None or self.task_function is None:
            raise RuntimeError("BatchedLauncher.launch before setup")
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = []
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            with open_dict(config):
                config.hydra.job.id = config.hydra.job.num = number
            configs.append(config)
        own = [OmegaConf.masked_copy(c, [k for k in c if k != "hydra"]) for c in configs]
        log.info("Computing %d jobs in batches", len(configs))
        for line in get_method(self.precompute)(own):
            log.info(line)
        runs = []
        for number, (overrides, config) in enumerate(
            zip(job_overrides, configs, strict=True), start=initial_job_idx
        ):
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
            runs.append(
                run_job(
                    hydra_context=self.hydra_context,
                    task_function=self.task_function,
                    config=config,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs
