"""`python -m src.main [-m] key=value ...`: one job per config, a sweep with -m (see src/cli.py)."""

from src import startup_gc

startup_gc.pause()  # the imports without the garbage collector: ~1 s (src/startup_gc.py)

import hydra  # noqa: E402

from src import completion  # noqa: E402
from src.quick_exit import run_then_exit  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg):  # noqa: ANN001, ANN201  (Hydra's entry point, as in its own examples)
    from src import cli  # torch and MLflow: not imported for a tab completion's query

    return cli.job(cfg)


if __name__ == "__main__":
    # -sc: tab completion, else src.cli.run; then the exit without the interpreter's teardown
    run_then_exit(lambda: completion.run_or_complete(main))
