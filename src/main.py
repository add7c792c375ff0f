"""`python -m src.main [-m] key=value ...`: one job per config, a sweep with -m (see src/cli.py)."""

import gc
import sys

if __name__ == "__main__":
    gc.disable()  # the start makes ~800,000 long-lived objects: no rescans (src/collector.py)

import hydra  # noqa: E402

from src import collector, completion, streams  # noqa: E402
from src.config import command_line  # noqa: E402
from src.config.registration import register  # noqa: E402

register()  # ${project_root:}, ${unique:} and the typed schema, before Hydra composes


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg):  # noqa: ANN001, ANN201  (Hydra's entry point, as in its own examples)
    from src import cli  # torch and MLflow: not imported for a tab completion's query

    return cli.job(cfg)


if __name__ == "__main__":
    streams.guard()  # a closed or full stdout ends the printing, never the work
    command_line.check(sys.argv[1:])  # before Hydra reads it or instantiates any callback
    if completion.requested(sys.argv[1:]) is None:  # a run, not a tab's query
        from src import cli  # noqa: F401  (torch, MLflow, Hydra's callbacks: what jobs use)
    collector.run(completion.run_or_complete, main)  # the collector on, the end frozen
