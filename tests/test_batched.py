"""Many jobs as one computation (issue 24): the batched launcher's jobs equal their lone runs,
bit for bit, and an optimizer that is not elementwise runs job by job, saying why."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from src.batched import precompute
from src.engines import batched_loop, torch_loop
from src.engines.spec import RunSpec
from src.problems.functions import CHUNK, Bernoulli, NoisyQuadratic, Periodic
from src.problems.projections import Box
from tests.conftest import make_cfg, run_main
from tests.test_extending import USER_ENV, write_example

SMALL = ("steps=400", "log.points=7", "log.figures=false", "log.report=false")
NOT_ELEMENTWISE = '''
import torch


class MeanSign(torch.optim.Optimizer):
    """Steps every coordinate by the sign of the gradients' mean: not elementwise."""

    def __init__(self, params, lr: float = 0.01) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(group["lr"] * p.grad.mean().sign())
'''


@pytest.fixture
def signsgd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type:
    user = write_example(tmp_path / "mine")
    (user / "meansign.py").write_text(NOT_ELEMENTWISE)
    monkeypatch.syspath_prepend(str(user))
    monkeypatch.setenv(USER_ENV, str(user))
    import signsgd  # noqa: PLC0415  (the user's module, from the docs)

    return signsgd.SignSGD


def test_the_probe_passes_signsgd_and_says_why_adam_and_a_mean_do_not(signsgd: type) -> None:
    import meansign  # noqa: PLC0415

    lrs = (0.001, 0.01, 0.3)
    assert batched_loop.probe([functools.partial(signsgd, lr=lr) for lr in lrs], torch.float32,
                              "constant") is None  # fmt: skip
    adam = [functools.partial(torch.optim.Adam, lr=lr) for lr in lrs]
    assert "Tensor" in batched_loop.probe(adam, torch.float32, "constant")
    mean = [functools.partial(meansign.MeanSign, lr=lr) for lr in lrs]
    assert "differs from its coordinate" in batched_loop.probe(mean, torch.float32, "constant")
    lines = precompute([make_cfg("optim=signsgd", f"optim.lr={lr}", *SMALL) for lr in lrs[:2]])
    assert lines[0].startswith("batched: 2 jobs of SignSGD in one pass")
    lines = precompute(
        [make_cfg("optim._target_=meansign.MeanSign", "~optim.betas", "~optim.eps",
                  "~optim.amsgrad", f"optim.lr={lr}", *SMALL) for lr in lrs[:2]]
    )  # fmt: skip
    (line,) = lines
    assert line.startswith(
        "batched: 2 jobs of meansign.MeanSign run job by job: not elementwise with per-element "
        "hyper-parameters (job 0 alone differs from its coordinate in a batch at probe step "
    )


@pytest.mark.slow
def test_a_batch_equals_each_job_alone_to_the_bit_across_chunks(signsgd: type) -> None:
    """Other lr, other problems (linear and quadratic, seeded), two replicates, past a chunk."""
    box = Box(-1.0, 1.0)
    jobs = [
        (RunSpec(Periodic(), box, CHUNK + 50, 2, 0, log_points=9), 0.001),
        (RunSpec(Bernoulli(C=50.0), box, CHUNK + 50, 2, 3, log_points=9), 0.01),
        (RunSpec(Periodic(C=2.0, period=3), box, CHUNK + 50, 2, 7, log_points=9), 0.1),
    ]
    factories = [functools.partial(signsgd, lr=lr) for _, lr in jobs]
    batch = batched_loop.run([spec for spec, _ in jobs], factories)
    for (spec, _), make, together in zip(jobs, factories, batch, strict=True):
        alone = torch_loop.run(spec, make)
        for name, values in alone.arrays().items():
            assert np.array_equal(together.arrays()[name], values, equal_nan=True), name
    quadratic = [RunSpec(NoisyQuadratic(center=c), box, 500, 1, 1, log_points=5) for c in (0, 0.5)]
    for spec, together in zip(quadratic, batched_loop.run(quadratic, factories[:2]), strict=True):
        alone = torch_loop.run(spec, factories[0] if spec is quadratic[0] else factories[1])
        assert np.array_equal(together.arrays()["x"], alone.arrays()["x"])


def logged(uri: str) -> dict[str, tuple[dict, dict]]:
    """Each child run's name -> (its final metrics but speed, its metric histories)."""
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    out = {}
    for run in runs:
        if "mlflow.parentRunId" not in run.data.tags:
            continue
        finals = {k: v for k, v in run.data.metrics.items() if k != "steps_per_second"}
        histories = {
            k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)]
            for k in ("x", "avg_regret")
        }
        out[run.info.run_name] = (finals, histories)
    return out


@pytest.mark.slow
def test_the_batched_launcher_logs_each_job_as_it_would_alone(tmp_path: Path) -> None:
    user = write_example(tmp_path / "mine")
    sweep = ("-m", "optim=signsgd", "optim.lr=0.001,0.03", "fn=online,stochastic", "seed=0,1")
    stores = {}
    for launcher in ("basic", "batched"):
        uri = f"sqlite:///{tmp_path / launcher / 'mlflow.db'}"
        (tmp_path / launcher).mkdir()
        proc = run_main(
            *sweep, *SMALL, f"hydra/launcher={launcher}", f"tracking.uri={uri}",
            f"hydra.sweep.dir={tmp_path / launcher / 'sweep'}", env={USER_ENV: str(user)},
        )  # fmt: skip
        stores[launcher] = logged(uri)
    # a pass per number of replicates: the online jobs run one, the stochastic ones ten (issue 23)
    assert (proc.stdout + proc.stderr).count("batched: 4 jobs of SignSGD in one pass") == 2
    assert len(stores["basic"]) == 8
    assert stores["batched"] == stores["basic"]  # every final and history point, exactly
    client = MlflowClient(f"sqlite:///{tmp_path / 'batched' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert {r.data.tags.get("batch") for r in runs if r.data.tags.get("role") != "sweep"} == {"4"}


def test_jobs_of_many_replicates_run_alone(signsgd: type) -> None:
    """A pass holds at most MAX_ELEMENTS jobs × replicates (its coefficients' memory)."""
    many = [make_cfg("optim=signsgd", f"optim.lr={lr}", "replicates=200", *SMALL) for lr in (1, 2)]
    assert precompute(many) == []
