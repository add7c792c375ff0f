"""Every option of every config group composes, instantiates and builds its object."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from src import PROJECT_ROOT
from src.build import build_spec, optimizer_factory
from src.problems.functions import OnlineFunction
from src.problems.projections import Projection
from tests.conftest import CONF, make_cfg, options


@pytest.mark.parametrize("name", options("optim"))
def test_optim_builds_a_torch_optimizer(name: str) -> None:
    cfg = make_cfg(f"optim={name}")
    x = torch.zeros(3, requires_grad=True)
    optimizer = optimizer_factory(cfg)([x])
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert optimizer.param_groups[0]["lr"] == cfg.optim.lr


@pytest.mark.parametrize("name", options("fn"))
def test_fn_instantiates(name: str) -> None:
    fn = instantiate(make_cfg(f"fn={name}").fn)
    assert isinstance(fn, OnlineFunction)
    optimum = np.asarray(fn.expected_optimum(-1.0, 1.0))  # a vector for a d-dimensional fn
    assert np.all((-1.0 <= optimum) & (optimum <= 1.0))


@pytest.mark.parametrize("name", options("projection"))
def test_projection_instantiates(name: str) -> None:
    projection = instantiate(make_cfg(f"projection={name}").projection)
    assert isinstance(projection, Projection)
    x = torch.tensor([-5.0, 0.25, 5.0])
    projection(x)
    low, high = projection.bounds
    assert torch.all((x >= low) & (x <= high))


@pytest.mark.parametrize("name", options("schedule"))
def test_schedule_composes(name: str) -> None:
    assert make_cfg(f"schedule={name}").schedule.name == name


def test_defaults_are_the_papers_figure1() -> None:
    cfg = make_cfg()
    spec = build_spec(cfg)
    assert (cfg.steps, cfg.x0, cfg.replicates, cfg.dtype) == (6_000_000, 0.0, 1, "float32")
    assert (cfg.optim.lr, list(cfg.optim.betas), cfg.optim.amsgrad) == (0.001, [0.9, 0.99], False)
    assert spec.projection.bounds == (-1.0, 1.0)
    assert cfg.tracking.uri == f"sqlite:///{PROJECT_ROOT}/mlflow.db"


def test_default_sweep_is_the_four_figure1_runs() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        params = compose("config", return_hydra_config=True).hydra.sweeper.params
    assert set(params.optim.split(",")) == {"adam", "amsgrad"}
    assert set(params.fn.split(",")) == {"online", "stochastic"}
