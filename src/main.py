"""`python -m src.main [-m] key=value ...`: one job per config, a sweep with -m (see src/cli.py)."""

import hydra

from src import completion
from src.quick_exit import run_then_exit


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg):  # noqa: ANN001, ANN201  (Hydra's entry point, as in its own examples)
    from src import cli  # torch and MLflow: not imported for a tab completion's query

    return cli.job(cfg)


if __name__ == "__main__":
    # -sc: tab completion, else src.cli.run; then the exit without the interpreter's teardown
    run_then_exit(lambda: completion.run_or_complete(main))
