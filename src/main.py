"""`python -m src.main [-m] key=value ...`: one job per config, a sweep with -m (see src/cli.py)."""

import hydra

from src import completion


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg):  # noqa: ANN001, ANN201  (Hydra's entry point, as in its own examples)
    from src import cli  # torch and MLflow: not imported for a tab completion's query

    return cli.job(cfg)


if __name__ == "__main__":
    completion.run_or_complete(main)  # -sc: tab completion, else src.cli.run
