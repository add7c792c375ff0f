"""Each preset in its own MLflow experiment, its runs' names distinct (issue 28)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from tests.conftest import CONF


def experiment_of(*overrides: str) -> str:
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return str(compose("config", overrides=list(overrides)).tracking.experiment)


@pytest.mark.parametrize("group", ["experiment", "search"])
def test_each_preset_has_its_own_experiment_which_the_command_line_overrides(group: str) -> None:
    for path in sorted((PROJECT_ROOT / "conf" / group).glob("*.yaml")):
        name = path.stem if group == "experiment" else f"search-{path.stem}"
        assert experiment_of(f"+{group}={path.stem}") == name
        assert experiment_of(f"+{group}={path.stem}", "tracking.experiment=mine") == "mine"
    assert experiment_of() == "breaking-adam"  # a sweep without a preset
    assert experiment_of("+experiment=theorem1") != experiment_of("+experiment=figure1")


@pytest.mark.slow  # 60 short jobs in a subprocess, shared with tests/report (`beta_grid_store`)
def test_a_beta_grid_lands_in_its_experiment_with_60_distinct_run_names(
    beta_grid_store: Path,
) -> None:
    client = MlflowClient(f"sqlite:///{beta_grid_store}/mlflow.db")
    assert client.get_experiment_by_name("breaking-adam") is None
    runs = client.search_runs([client.get_experiment_by_name("beta_grid").experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    names = {r.info.run_name for r in children}
    assert len(children) == len(names) == 60
    assert "adam · online · betas.0=0.9 · betas.1=0.99999" in names
    assert "adam · online · betas.0=0.9 · betas.1=0.999999" in names
