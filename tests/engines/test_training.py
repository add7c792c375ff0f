"""The real-world experiments (`task`): the minibatch loop, the models, the job through MLflow,
the one-line error for a missing dataset in a real process, and a real sweep of a digits preset
with its Figure 2 report. Every run is on scikit-learn's digits (offline, milliseconds a step)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from mlflow.tracking import MlflowClient

from src.build import build_task, check, run_task
from src.config.checks import ConfigError, validate
from src.engines.training import TrainSpec, batches, train
from src.job import JobFailed, run_job
from src.problems.regret import DIVERGED, FINISHED, INTERRUPTED
from src.report import kinds, labels, runs
from src.report import sweep as report
from src.report.figures import PAPER_COLORS, TEST_LOSS, TRAIN_LOSS
from src.tasks import models
from src.tasks.datasets import Digits
from tests.conftest import make_cfg, run_main

SHORT = ("steps=300", "log.points=10")
LOGREG = ("task=logreg", "data=digits", "schedule=inv_sqrt", "optim.lr=0.1", *SHORT)
MLP = ("task=mlp", "data=digits", "optim.lr=0.003", *SHORT)


def run(*overrides: str):
    cfg = make_cfg(*overrides)
    validate(cfg)
    return run_task(cfg, build_task(cfg), None)


# ------------------------------------------------------------------------------------ the loop


def test_batches_cover_each_epoch_once_and_run_across_its_end() -> None:
    drawn = torch.cat(list(islice(batches(10, 4, torch.Generator().manual_seed(0)), 5)))
    assert len(drawn) == 20
    for epoch in (drawn[:10], drawn[10:]):
        assert sorted(epoch.tolist()) == list(range(10))
    big = next(batches(3, 7, torch.Generator().manual_seed(0)))
    assert len(big) == 7 and sorted(big[:3].tolist()) == [0, 1, 2]


@pytest.mark.parametrize("task", [LOGREG, MLP], ids=["logreg", "mlp"])
@pytest.mark.parametrize("optim", ["adam", "amsgrad"])
def test_adam_and_amsgrad_train_on_digits_and_the_loss_falls(task: tuple, optim: str) -> None:
    engine, result = run(*task, f"optim={optim}", "engine=auto")
    assert engine == "torch" and result.status == FINISHED and result.steps_done == 300
    assert len(result.log_steps) == 10 and result.log_steps[-1] == 300
    assert result.train_loss[-1] < 0.3 * result.train_loss[0]
    assert result.test_loss[-1] < 0.3 * result.test_loss[0]
    assert result.test_accuracy[-1] > 0.9
    assert result.final("test_accuracy") == result.test_accuracy[-1]


def test_adam_and_amsgrad_differ_and_each_run_is_reproducible() -> None:
    _, adam = run(*LOGREG, "optim=adam")
    _, again = run(*LOGREG, "optim=adam")
    _, amsgrad = run(*LOGREG, "optim=amsgrad")
    _, other_seed = run(*LOGREG, "optim=adam", "seed=1")
    for key in ("train_loss", "test_loss", "test_accuracy"):
        np.testing.assert_array_equal(getattr(adam, key), getattr(again, key))
    assert not np.array_equal(adam.train_loss, amsgrad.train_loss)
    assert not np.array_equal(adam.train_loss, other_seed.train_loss)


def test_the_schedule_sets_the_rate_alpha_over_sqrt_t() -> None:
    rates = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            rates.append(self.param_groups[0]["lr"])
            return super().step(closure)

    spec = build_task(make_cfg(*LOGREG, "steps=4", "log.points=2"))
    train(spec, lambda p: Recording(p, lr=0.1), "inv_sqrt")
    assert rates == pytest.approx([0.1 / np.sqrt(t) for t in (1, 2, 3, 4)])


def test_a_non_finite_loss_stops_the_run_as_diverged() -> None:
    _, result = run("task=logreg", "data=digits", "optim=sgd", "optim.lr=1e38", *SHORT)
    assert result.status == DIVERGED and result.steps_done == 1
    assert "non-finite training loss" in result.reason and "step 2" in result.reason
    assert result.log_steps.tolist() == [1] and np.isfinite(result.train_loss).all()


def test_ctrl_c_stops_the_run_as_interrupted_with_its_history_so_far() -> None:
    data = Digits().load()
    spec = TrainSpec(
        data, lambda: models.LogisticRegression((1, 8, 8), 10), steps=100, log_points=11
    )

    seen: list[int] = []

    def progress(steps: int) -> None:  # called after each step: Ctrl-C after step 35
        seen.append(steps)
        if len(seen) == 35:
            raise KeyboardInterrupt

    result = train(spec, lambda p: torch.optim.Adam(p, lr=0.01), progress=progress)
    assert result.status == INTERRUPTED and result.steps_done == 35
    assert result.log_steps.tolist() == [1, 11, 21, 31]


# ------------------------------------------------------------------------------------ models


def test_cifarnet_has_the_papers_layers_and_dropout_only_in_training() -> None:
    net = models.CifarNet((3, 32, 32), 10)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(64, (6, 6))] * 2
    assert sum(isinstance(m, torch.nn.LocalResponseNorm) for m in net.modules()) == 2
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 2
    linears = [m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [384, 192, 10]
    x = torch.rand(4, 3, 32, 32)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
    assert models.MLP((1, 8, 8), 10).layers[1].out_features == 100


def test_cifarnet_trains_on_digits() -> None:
    engine, result = run("task=cifarnet", "data=digits", "steps=30", "log.points=3")
    assert engine == "torch" and result.status == FINISHED
    assert result.train_loss[-1] < result.train_loss[0]


# ------------------------------------------------------------------------------------ config


def test_engine_fast_with_a_task_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError) as caught:
        check(make_cfg(*LOGREG, "engine=fast"))
    assert str(caught.value).startswith("engine=fast: a task trains a model through torch.optim")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (("task=logreg",), "data: a task needs a dataset"),
        (("data=digits",), "data='src.tasks.datasets.Digits': a dataset is only read by a task"),
        ((*LOGREG, "replicates=3"), "replicates=3: a task trains one model per job"),
        ((*LOGREG, "task.batch_size=0"), "task.batch_size=0: must be an integer >= 1"),
        (
            (*MLP, "+task.model.width=3"),
            "task.model.width=3: not an argument of src.tasks.models.MLP",
        ),
        ((*LOGREG, "task.device=tpu"), "task.device='tpu': must be a torch device"),
    ],
)
def test_task_values_are_checked_in_one_line(overrides: tuple, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(make_cfg(*overrides))
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_a_task_job_logs_its_histories_not_the_fn(store: str) -> None:
    result = run_job(make_cfg(*LOGREG, f"tracking.uri={store}"))
    client = MlflowClient(store)
    finished = client.get_run(result.info["run_id"])
    assert finished.info.status == "FINISHED" and finished.data.tags["engine"] == "torch"
    params = finished.data.params
    assert params["task.model.class"] == "LogisticRegression"  # the class, not Hydra's _target_
    assert params["schedule.name"] == "inv_sqrt" and params["data.class"] == "Digits"
    assert not [k for k in params if k.endswith(("._target_", "._partial_"))]
    assert not [k for k in params if k.split(".")[0] in ("fn", "projection", "x0", "replicates")]
    for key in ("train_loss", "test_loss", "test_accuracy"):
        history = client.get_metric_history(finished.info.run_id, key)
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == result.log_steps.tolist()
        assert finished.data.metrics[f"final_{key}"] == pytest.approx(result.final(key))
    assert finished.data.metrics["steps_per_second"] > 0
    artifacts = {a.path for a in client.list_artifacts(finished.info.run_id)}
    assert {"history.npz", "history.png", "config.yaml"} <= artifacts


def test_a_diverged_task_job_ends_failed_with_its_step(store: str) -> None:
    cfg = make_cfg(
        "task=logreg", "data=digits", "optim=sgd", "optim.lr=1e38", *SHORT, f"tracking.uri={store}"
    )
    with pytest.raises(JobFailed, match="diverged"):
        run_job(cfg)
    client = MlflowClient(store)
    (failed,) = client.search_runs([client.get_experiment_by_name("breaking-adam").experiment_id])
    assert failed.info.status == "FAILED" and failed.data.tags["failure.step"] == "2"


# ------------------------------------------------------------------------------------ processes


@pytest.mark.slow
def test_a_missing_dataset_stops_the_process_with_one_line_and_no_run(tmp_path: Path) -> None:
    empty, db = tmp_path / "empty", tmp_path / "mlflow.db"
    empty.mkdir()
    proc = run_main(
        "task=logreg",
        "data=mnist",
        f"data.root={empty}",
        f"tracking.uri=sqlite:///{db}",
        f"hydra.run.dir={tmp_path}/out",
        check=False,
        seeded_store=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: data.root='{empty}': no MNIST files")
    assert "train-images-idx3-ubyte" in lines[0]
    assert not db.exists()  # the store was never opened: no run


@pytest.mark.slow
def test_a_sweep_over_fn_with_a_task_is_refused_as_repeated_jobs(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    proc = run_main(
        "-m",
        *LOGREG,
        "fn=online,stochastic",
        f"tracking.uri=sqlite:///{db}",
        f"hydra.sweep.dir={tmp_path}/multirun",
        check=False,
        seeded_store=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines[0] == "multirun: 2 of 4 jobs are invalid; nothing was run"
    # the stochastic jobs: a random fn's option sets replicates=10, which a task refuses (issue 23)
    assert all("pin fn=online" in line for line in lines[1:]), lines
    assert not db.exists()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, object, list, Path]:
    """The logreg_digits preset (Adam, AMSGrad × β₂ 0.99, 0.999), 200 iterations, and its report."""
    tmp = tmp_path_factory.mktemp("task-sweep")
    uri = f"sqlite:///{tmp}/mlflow.db"
    run_main(
        "-m",
        "+experiment=logreg_digits",
        "steps=200",
        "log.points=20",
        f"hydra.sweep.dir={tmp}/multirun",
        f"tracking.uri={uri}",
    )
    folder = report.main(["--tracking-uri", uri, "--out", str(tmp / "reports")])
    client = MlflowClient(uri)
    parent = runs.find_parent(client, None, report.DEFAULT_EXPERIMENT)
    return client, parent, runs.load_children(client, parent, kinds.run_kind), folder


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_the_sweep_leaves_finished_children_with_the_task_histories(sweep) -> None:
    client, parent, children, _ = sweep
    assert parent.info.status == "FINISHED" and len(children) == 4
    assert {(c.status, c.params["optim.class"]) for c in children} == {("FINISHED", "Adam")}
    assert {(c.params["optim.amsgrad"], c.params["optim.betas"]) for c in children} == {
        (a, b) for a in ("False", "True") for b in ("[0.9, 0.99]", "[0.9, 0.999]")
    }
    for child in children:
        assert child.tags["engine"] == "torch" and "fn=" not in child.name
        for key in ("train_loss", "test_loss", "test_accuracy"):
            steps, values = child.histories[key]
            assert len(steps) == 20 and steps[-1] == 200 and np.isfinite(values).all()
        assert child.histories["train_loss"][1][-1] < child.histories["train_loss"][1][0]
        assert child.metrics["final_test_accuracy"] > 0.8


@pytest.mark.slow
def test_the_report_draws_figure2_and_the_task_summary(sweep) -> None:
    client, parent, children, folder = sweep
    image = imread(folder / "figure2.png")
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 400
    assert (folder / "figure2.pdf").read_bytes().startswith(b"%PDF")
    assert not (folder / "figure1.png").exists()
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/figure2.png", "report/summary.csv"} <= logged
    dims = labels.sweep_dimensions(children, parent.data.params["overrides"])
    assert dims == ["optimizer", "optim.betas.1"]  # the logreg_digits preset sweeps β₂ alone
    rows = kinds.figure2_rows(children, dims)
    assert [[p.ylabel for p in row] for row in rows] == [[TRAIN_LOSS, TEST_LOSS]] * 2
    assert [row[0].title for row in rows] == [
        "logistic regression on digits, β₂=0.99",
        "logistic regression on digits, β₂=0.999",
    ]
    for row in rows:
        for panel in row:
            assert {c.label: c.color for c in panel.curves} == PAPER_COLORS
    summary = (folder / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert {"final_train_loss", "final_test_loss", "final_test_accuracy"} <= set(header)
    assert "final_x" not in header and len(summary) == 5
