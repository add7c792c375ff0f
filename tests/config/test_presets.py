"""Every `+experiment=NAME` preset composes, and its sweep has the documented size."""

from __future__ import annotations

import itertools

import pytest
from hydra import compose, initialize_config_dir

from src import PROJECT_ROOT
from tests.conftest import CONF

SIZES = {
    "figure1": 4,
    "theorem1": 2,
    "theorem3": 2,
    "beta_grid": 60,
    "break_adam": 36,
    "schedules": 6,
    "logreg_digits": 4,
    "mlp_digits": 2,
    "logreg_mnist": 4,
    "mlp_mnist": 4,
    "cifarnet_cifar10": 2,
}


def sweep_jobs(name: str) -> list[dict]:
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        cfg = compose("config", overrides=[f"+experiment={name}"], return_hydra_config=True)
    params = {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}
    return [
        dict(zip(params, values, strict=True)) for values in itertools.product(*params.values())
    ]


def test_every_preset_is_listed() -> None:
    assert {p.stem for p in (PROJECT_ROOT / "conf" / "experiment").glob("*.yaml")} == set(SIZES)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_preset_sweep_size_and_jobs_compose(name: str) -> None:
    jobs = sweep_jobs(name)
    assert len(jobs) == SIZES[name]
    for job in (jobs[0], jobs[-1]):
        overrides = [f"+experiment={name}"] + [f"{k}={v}" for k, v in job.items()]
        with initialize_config_dir(version_base="1.3", config_dir=CONF):
            cfg = compose("config", overrides=overrides)
        assert cfg.steps >= 1


def test_theorem_presets_use_the_theorems_betas() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        t1 = compose("config", overrides=["+experiment=theorem1", "fn=theorem1"])
        t3 = compose("config", overrides=["+experiment=theorem3", "fn=theorem3"])
    assert list(t1.optim.betas) == [0.0, pytest.approx(1 / (1 + t1.fn.C**2))]
    assert list(t3.optim.betas) == [0.0, pytest.approx(1 / (1 + t3.fn.C**2))]
    assert t3.replicates > 1
