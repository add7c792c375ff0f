"""Entry point: `python -m src.main [-m] key=value ...` — a thin Hydra wrapper over `run_job`."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from src.experiment import run_job
from src.sweep_callback import parent_run_id


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    run_job(cfg, parent_run_id=parent_run_id(hc.sweep.dir) if multirun else None,
            run_name=f"{hc.job.num}: {hc.job.override_dirname}" if multirun else None,
            hydra_dir=Path(hc.runtime.output_dir))


if __name__ == "__main__":
    main()
