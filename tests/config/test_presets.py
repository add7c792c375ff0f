"""Every `+experiment=NAME` preset composes, and its sweep has the documented size."""

from __future__ import annotations

import itertools

import pytest
from hydra import compose, initialize_config_dir

from src import PROJECT_ROOT
from src.build import build_spec, run_engine
from tests.conftest import CONF, make_cfg

SIZES = {
    "figure1": 4,
    "theorem1": 2,
    "theorem3": 2,
    "beta_grid": 60,
    "break_adam": 36,
    "schedules": 6,
    "inv_sqrt": 2,
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


@pytest.mark.slow  # the preset's two jobs as it runs them (~10 s each on the fast engine)
def test_theorem3_preset_shows_the_contrast_on_every_replicate() -> None:
    """Theorem 3 with α_t = α/√t as the theory takes it: every one of Adam's replicates ends at
    the worst point +1, every one of AMSGrad's at the optimum −1. "At" −1: its distance from −1 is
    about exponential with mean 25·α_T ≈ 0.03 (the walk's variance α²p over twice its drift
    α·δ/(C+1)), so one replicate in 25 ends beyond 0.1 (2 and 3 of 64 on seeds 1–4, before and
    after the geometric gaps); 16 replicates all within 0.3 fail with probability ~1e-3, and their
    mean distance is 0.03 ± 0.008."""
    finals = {}
    for job in sweep_jobs("theorem3"):
        cfg = make_cfg("+experiment=theorem3", *(f"{k}={v}" for k, v in job.items()))
        assert cfg.schedule.name == "inv_sqrt"
        engine, result = run_engine(cfg, build_spec(cfg), None)
        assert engine == "fast" and result.status == "finished"
        finals[job["optim"]] = result.final_x
    assert len(finals["adam"]) == 16 and (finals["adam"] > 0.99).all(), finals["adam"]
    assert (finals["amsgrad"] < -0.7).all(), finals["amsgrad"]
    assert (1 + finals["amsgrad"]).mean() < 0.06, finals["amsgrad"]
