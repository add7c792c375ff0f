"""Every job of a multirun composed once in the launching process (src.config.jobs).

`job_configs` composes each job to check it before any runs; Hydra's sweeper (validating the
batch) and its basic launcher (running it) then get a copy of that composition instead of composing
the job again (each composition re-reads and merges every YAML file).
"""

from __future__ import annotations

import pickle

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from src.config.jobs import ReusingConfigLoader, job_configs, sweep_overrides
from tests.conftest import CONF

SWEEP = ["optim=adam,amsgrad", "fn=online,stochastic", "steps=100"]


@pytest.fixture
def sweep(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """(the multirun's master config, Hydra's loader, a list counting its YAML compositions)."""
    composed: list[list[str]] = []
    real = ConfigLoaderImpl.load_configuration

    def counting(
        self, config_name, overrides, run_mode, from_shell=True, validate_sweep_overrides=True
    ):  # noqa: ANN001, ANN202, E501
        composed.append(list(overrides))
        return real(self, config_name, overrides, run_mode, from_shell, validate_sweep_overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", counting)
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        master = compose("config", ["steps=100"], return_hydra_config=True)
        with open_dict(master):
            master.hydra.overrides.task = SWEEP
        composed.clear()
        yield master, GlobalHydra.instance().config_loader(), composed


def test_the_sweeper_and_the_launcher_reuse_the_checked_compositions(sweep) -> None:  # noqa: ANN001
    master, loader, composed = sweep
    jobs = sweep_overrides(master)
    checked = dict(job_configs(master))
    assert len(checked) == len(jobs) == 4 and len(composed) == 4
    for _user in ("sweeper", "launcher"):
        for overrides in jobs:
            config = loader.load_sweep_config(master, list(overrides))
            with open_dict(config):  # what the launcher does to its copy
                config.hydra.job.num = 7
    assert len(composed) == 4  # nothing composed twice
    fresh = ConfigLoaderImpl.load_sweep_config(loader, master, list(jobs[3]))
    again = ConfigLoaderImpl.load_sweep_config(loader, master, list(jobs[3]))
    assert OmegaConf.to_yaml(fresh) == OmegaConf.to_yaml(again)
    assert len(composed) == 6
    loader.load_sweep_config(master, list(jobs[3]))  # its uses are spent: composed anew
    assert len(composed) == 7


def test_a_reused_composition_is_the_fresh_one_and_a_copy(sweep) -> None:  # noqa: ANN001
    master, loader, _ = sweep
    overrides = list(sweep_overrides(master)[1])
    dict(job_configs(master))
    first = loader.load_sweep_config(master, overrides)
    with open_dict(first):
        first.hydra.job.num = 3
        first.steps = 5
    second = loader.load_sweep_config(master, overrides)
    fresh = ConfigLoaderImpl.load_sweep_config(loader, master, overrides)
    assert OmegaConf.to_yaml(second) == OmegaConf.to_yaml(fresh)
    assert second.steps == 100 and second.optim.amsgrad is False  # job 1: adam on stochastic
    assert second.fn._target_.endswith("Bernoulli")


def test_the_loader_pickles_without_its_compositions(sweep) -> None:  # noqa: ANN001
    """Another launcher pickles Hydra's context (the loader) to its workers."""
    master, loader, _ = sweep
    dict(job_configs(master))
    assert isinstance(loader, ReusingConfigLoader)
    assert "_reused" not in pickle.loads(pickle.dumps(loader)).__dict__
