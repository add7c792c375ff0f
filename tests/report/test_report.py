"""The report layer on real sweeps: real subprocess multiruns into a temporary SQLite store, read
back with MlflowClient; no mocks."""

from __future__ import annotations

import csv
import subprocess
import sys
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import imread
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from src.report import kinds, labels, runs
from src.report import sweep as report
from src.report.figures import PAPER_COLORS, trajectory_figure
from src.report.heatmaps import heatmap_figure
from tests.conftest import run_main

STEPS = 2000
LONG = 300_000  # for lr 1e35 to overflow float32 x (the fast engine: milliseconds)
FIGURE_FILES = ("figure1.png", "figure1.pdf", "summary.csv", "summary.md", "summary.tex")
GRID_FILES = (*FIGURE_FILES, "heatmap_final_distance.png", "heatmap_final_avg_regret.png")
ONLINE = "online: 1010x once every 101 steps, else −10x"
STOCHASTIC = "stochastic: 1010x w.p. 0.01, else −10x"


class Sweep:
    """A finished sweep in its own store, its report written, and its runs as the report sees
    them."""

    def __init__(
        self, tmp: Path, *overrides: str, check: bool = True, ran_in: Path | None = None
    ) -> None:
        """The sweep of `overrides` run into `tmp`, or the one already run in `ran_in` (its
        `mlflow.db` and `multirun/`) read; its report written in `tmp`."""
        folder = ran_in or tmp
        self.uri = f"sqlite:///{folder}/mlflow.db"
        self.sweep_dir = folder / "multirun"
        self.proc = None
        if ran_in is None:
            self.proc = run_main(
                "-m",
                *overrides,
                "log.points=50",
                f"hydra.sweep.dir={tmp}/multirun",
                f"tracking.uri={self.uri}",
                check=check,
            )
        self.client = MlflowClient(self.uri)
        self.folder = report.main(["--tracking-uri", self.uri, "--out", str(tmp / "reports")])
        self.parent = runs.find_parent(self.client, None, report.DEFAULT_EXPERIMENT)
        self.runs = runs.load_children(self.client, self.parent, kinds.run_kind)
        self.dims = labels.sweep_dimensions(self.runs, self.parent.data.params["overrides"])

    def run(self, where: dict[str, str]) -> runs.ChildRun:
        """The one run whose params contain `where`."""
        found = [r for r in self.runs if all(r.params.get(k) == v for k, v in where.items())]
        assert len(found) == 1, where
        return found[0]

    def history(self, run_id: str, key: str) -> tuple[list[int], list[float]]:
        points = sorted(self.client.get_metric_history(run_id, key), key=lambda m: m.step)
        return [m.step for m in points], [m.value for m in points]


@pytest.fixture(scope="module")
def figure1(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """The paper's four runs, two replicates each."""
    return Sweep(
        tmp_path_factory.mktemp("figure1"),
        "optim=adam,amsgrad",
        "fn=online,stochastic",
        f"steps={STEPS}",
        "replicates=2",
    )


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """A 2x2 grid: optim.lr × fn.C, Adam on the online problem (the default sweep's optim and fn
    pinned)."""
    return Sweep(
        tmp_path_factory.mktemp("grid"),
        "optim=adam",
        "fn=online",
        "optim.lr=0.001,0.01",
        "fn.C=51,101",
        "steps=1000",
        "log.report=false",  # only `make figure`'s report (the sweep's own: figure1, failing)
    )


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """Adam unprojected in float32 at lr 0.001 (finishes), 1e35 (x overflows part-way: FAILED with
    a partial history) and 1e38 (overflows at step 1: FAILED with none)."""
    return Sweep(
        tmp_path_factory.mktemp("failing"),
        "optim=adam",
        "fn=online",
        "optim.lr=0.001,1e35,1e38",
        "projection=none",
        "dtype=float32",
        f"steps={LONG}",
        check=False,
    )


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_report_files_exist_decode_and_are_logged_to_the_parent(figure1: Sweep) -> None:
    assert figure1.folder.parent.name == "reports"
    for name in FIGURE_FILES:
        assert (figure1.folder / name).stat().st_size > 0, name
    for name in FIGURE_FILES:
        if name.endswith(".png"):
            image = imread(figure1.folder / name)
            assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert (figure1.folder / "figure1.pdf").read_bytes().startswith(b"%PDF")
    logged = {a.path for a in figure1.client.list_artifacts(figure1.parent.info.run_id, "report")}
    assert logged == {f"report/{name}" for name in FIGURE_FILES}


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
@pytest.mark.parametrize("name", ["figure1", "failing"])
def test_a_sweep_writes_its_own_report_at_its_end(
    name: str, request: pytest.FixtureRequest
) -> None:
    """In the sweep's process, into <sweep dir>/report/: the same files and summary as the report
    `python -m src.report` draws afterwards from the store (failed runs included), and the
    summary's last lines say where it is."""
    sweep: Sweep = request.getfixturevalue(name)
    folder = sweep.sweep_dir / "report"
    for file in FIGURE_FILES:
        assert (folder / file).stat().st_size > 0, file
    assert (folder / "summary.csv").read_text() == (sweep.folder / "summary.csv").read_text()
    shown = sweep.proc.stdout + sweep.proc.stderr
    assert f"report: {folder}" in shown
    assert f"python -m src.report --parent {sweep.parent.info.run_id}" in shown


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_log_report_false_leaves_the_report_to_make_figure(grid: Sweep) -> None:
    assert not (grid.sweep_dir / "report").exists()
    assert (grid.folder / "heatmap_final_avg_regret.png").exists()  # `make figure`'s is there


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_sweep_dimensions_are_optimizer_and_fn(figure1: Sweep) -> None:
    assert figure1.dims == ["optimizer", "fn"]
    assert [(r.params["optim.amsgrad"], labels.fn_label(r.params)) for r in figure1.runs] == [
        ("False", "online"),
        ("False", "stochastic"),
        ("True", "online"),
        ("True", "stochastic"),
    ]


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_figure1_has_the_papers_panels_and_one_line_per_optimizer(figure1: Sweep) -> None:
    fig = kinds.figure1(figure1.runs, figure1.dims)
    axes = fig.get_axes()
    assert [(ax.get_title(), ax.get_ylabel(), ax.get_xlabel()) for ax in axes] == [
        (f"(a) {ONLINE}", "$R_t/t$", "iterations"),
        (f"(b) {ONLINE}", "$x_t$", "iterations"),
        (f"(c) {STOCHASTIC}", "$x_t$", "iterations"),
    ]
    fig.canvas.draw()
    for ax in axes:  # plain ticks (2k, not 2 with an offset ×10³)
        assert ax.xaxis.get_offset_text().get_text() == ""
        assert "2k" in [t.get_text() for t in ax.get_xticklabels()]
    for ax, (fn, key) in zip(
        axes, [("online", "avg_regret"), ("online", "x"), ("stochastic", "x")], strict=True
    ):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["Adam", "AMSGrad"]
        for line, amsgrad in zip(lines, ("False", "True"), strict=True):
            run = figure1.run({"optim.amsgrad": amsgrad, "fn": fn})
            steps, values = figure1.history(run.run_id, key)
            assert len(steps) == (49 if key == "avg_regret" else 50) and steps[-1] == STEPS
            np.testing.assert_array_equal(line.get_xdata(), steps)
            np.testing.assert_array_equal(line.get_ydata(), values)
            assert to_rgba(line.get_color()) == to_rgba(PAPER_COLORS[line.get_label()])


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_figure1_bands_are_x_over_the_replicates_and_every_step(figure1: Sweep) -> None:
    fig = kinds.figure1(figure1.runs, figure1.dims)
    stochastic = fig.get_axes()[2]
    bands = stochastic.collections
    assert len(bands) == 2  # one per optimizer: R = 2 stochastic replicates differ
    run = figure1.run({"optim.amsgrad": "False", "fn": "stochastic"})
    x = run.trajectory["x"]
    assert x.shape == (50, 2) and not np.array_equal(x[:, 0], x[:, 1])
    edges = bands[0].get_paths()[0].vertices[:, 1]  # the envelope: every step, every replicate
    low, high = run.trajectory["x_min"], run.trajectory["x_max"]
    assert np.isclose(edges.max(), high.max()) and np.isclose(edges.min(), low.min())
    assert (low.min(1) <= x.min(1)).all() and (x.max(1) <= high.max(1)).all()
    # the line is the logged mean, inside its band
    np.testing.assert_allclose(stochastic.get_lines()[0].get_ydata(), x.mean(1), rtol=1e-6)


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_summary_rows_equal_the_runs_final_metrics(figure1: Sweep) -> None:
    with (figure1.folder / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["run_id"] for row in rows] == [r.run_id for r in figure1.runs]
    for row in rows:
        run = figure1.client.get_run(row["run_id"])
        assert row["status"] == run.info.status == "FINISHED"
        assert row["optimizer"] == (
            "AMSGrad" if run.data.params["optim.amsgrad"] == "True" else "Adam"
        )
        for metric in (
            "final_x",
            "final_regret",
            "final_avg_regret",
            "tail_x_mean",
            "tail_x_min",
            "tail_x_max",
            "steps_per_second",
        ):
            assert float(row[metric]) == run.data.metrics[metric], metric
    table = (figure1.folder / "summary.md").read_text()
    assert table.count("| FINISHED |") == 4 and figure1.parent.info.run_id in table


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_each_job_logs_its_trajectory_figure(figure1: Sweep, tmp_path: Path) -> None:
    for run in figure1.runs:
        path = figure1.client.download_artifacts(run.run_id, "trajectory.png", str(tmp_path))
        assert imread(path).shape[2] in (3, 4)


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_grid_heatmap_cells_equal_the_final_metrics(grid: Sweep) -> None:
    assert grid.dims == ["optim.lr", "fn.C"]
    for metric in ("final_distance", "final_avg_regret"):
        assert (grid.folder / f"heatmap_{metric}.png").is_file()
        fig = heatmap_figure(kinds.heatmap_grids(grid.runs, grid.dims, metric), metric)
        ax = fig.get_axes()[0]
        assert (ax.get_ylabel(), ax.get_xlabel()) == ("lr", "fn.C")
        rows = [t.get_text() for t in ax.get_yticklabels()]
        cols = [t.get_text() for t in ax.get_xticklabels()]
        assert [float(r) for r in rows] == [0.001, 0.01]
        assert [float(c) for c in cols] == [51, 101]
        cells = np.asarray(ax.images[0].get_array())
        texts = {
            (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
        }
        for i, lr in enumerate(rows):
            for j, c in enumerate(cols):
                expected = grid.run({"optim.lr": lr, "fn.C": c}).metrics[metric]
                assert cells[i, j] == expected
                assert texts[(i, j)] == f"{expected:.3g}"


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_grid_figure1_has_one_line_per_learning_rate(grid: Sweep) -> None:
    axes = kinds.figure1(grid.runs, grid.dims).get_axes()
    c = {float(r.params["fn.C"]): r.params["fn.C"] for r in grid.runs}
    assert [ax.get_title() for ax in axes] == [
        "(a) online: 1010x once every 101 steps, else −10x",
        "(b) online: 1010x once every 101 steps, else −10x",
        "(c) online: 510x once every 101 steps, else −10x",
    ]
    assert set(c) == {51, 101}
    assert [line.get_label() for line in axes[2].get_lines()] == ["Adam, lr=0.001", "Adam, lr=0.01"]


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_a_failed_job_still_gets_its_figure_and_a_failed_row(failing: Sweep) -> None:
    assert failing.proc.returncode != 0  # the sweep reports its failures
    assert failing.parent.info.status == "FAILED"
    assert failing.dims == ["optim.lr"]
    status = {r.params["optim.lr"]: r.status for r in failing.runs}
    assert status == {"0.001": "FINISHED", "1e+35": "FAILED", "1e+38": "FAILED"}
    imread(failing.folder / "figure1.png")
    with (failing.folder / "summary.csv").open() as handle:
        rows = {row["optim.lr"]: row for row in csv.DictReader(handle)}
    assert {lr: row["status"] for lr, row in rows.items()} == status
    assert rows["0.001"]["failure"] == "" and float(rows["0.001"]["steps_done"]) == LONG
    assert all("non-finite" in rows[lr]["failure"] for lr in ("1e+35", "1e+38"))
    assert 1 < float(rows["1e+35"]["steps_done"]) < LONG  # diverged part-way
    assert float(rows["1e+38"]["steps_done"]) == 0
    assert "| FAILED |" in (failing.folder / "summary.md").read_text()
    lines = kinds.figure1(failing.runs, failing.dims).get_axes()[1].get_lines()
    assert [line.get_label() for line in lines] == [
        "Adam, lr=0.001",
        "Adam, lr=1e+35 (FAILED)",
        "Adam, lr=1e+38 (FAILED)",
    ]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "--"]
    steps, values = failing.history(failing.run({"optim.lr": "1e+35"}).run_id, "x")
    assert 0 < len(steps) < 50
    np.testing.assert_array_equal(lines[1].get_ydata(), values)
    assert len(lines[2].get_xdata()) == 0  # no history, still in the legend
    partial = failing.run({"optim.lr": "1e+35"}).run_id  # the per-job figure of a partial run
    assert "trajectory.png" in {a.path for a in failing.client.list_artifacts(partial)}


def test_trajectory_figure_of_an_empty_and_a_partial_result() -> None:
    empty = SimpleNamespace(
        log_steps=np.zeros(0, np.int64), x=np.zeros((0, 3)), avg_regret=np.zeros((0, 3))
    )
    partial = SimpleNamespace(
        log_steps=np.array([1, 2, 3]),
        x=np.array([[0.0], [1e38], [np.inf]]),
        avg_regret=np.array([[1.0], [np.nan], [np.inf]]),
    )
    for result in (empty, partial):
        fig = trajectory_figure(result, "t")
        assert [ax.get_ylabel() for ax in fig.get_axes()] == ["$x_t$", "$R_t/t$"]
        fig.savefig(BytesIO(), format="png")


@pytest.mark.slow  # a real sweep in a subprocess (module fixture)
def test_cli_reports_a_given_sweep_and_prints_its_folder(grid: Sweep, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.report",
            "--tracking-uri",
            grid.uri,
            "--out",
            str(tmp_path),
            "--parent",
            grid.parent.info.run_id,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert folder.parent == tmp_path and folder.name == grid.parent.info.run_id
    assert {p.name for p in folder.iterdir()} == set(GRID_FILES)


def test_cli_refuses_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no MLflow store"):
        report.main(["--tracking-uri", f"sqlite:///{tmp_path}/none.db"])
    assert not (tmp_path / "none.db").exists()


def test_a_sweep_over_list_items_varies_the_items_not_the_list() -> None:
    """`optim.betas.0=… optim.betas.1=…` sweeps: the heatmap axes are β₁ and β₂."""
    from src.report.kinds import heatmap_axes, heatmap_grids, run_kind
    from src.report.labels import sweep_dimensions
    from src.report.runs import ChildRun, with_list_items

    def child(b1: str, b2: str) -> ChildRun:
        params = with_list_items(
            {
                "optim._target_": "torch.optim.Adam",
                "optim.amsgrad": "False",
                "optim.betas": f"[{b1}, {b2}]",
                "fn._target_": "src.problems.functions.Periodic",
            }
        )
        return ChildRun("id", "name", "FINISHED", params, {}, {}, {}, None, run_kind(params))

    runs = [child(b1, b2) for b1 in ("0.0", "0.9") for b2 in ("0.99", "0.999")]
    assert runs[0].params["optim.betas.1"] == "0.99"
    dims = sweep_dimensions(runs)
    assert dims == ["optim.betas.0", "optim.betas.1"]
    assert heatmap_axes(dims) == ("optim.betas.0", "optim.betas.1")
    for run, final_x in zip(runs, (-1.0, 1.0, 0.34, 1.0), strict=True):
        run.metrics["final_x"] = final_x
    fig = heatmap_figure(heatmap_grids(runs, dims, "final_x"), "final_x")
    ax = fig.get_axes()[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("β₁", "β₂")
    assert ax.images[0].norm.vmin == -1 and ax.images[0].norm.vmax == 1  # F, in every panel


def test_no_heatmap_of_an_optimizer_by_problem_grid() -> None:
    assert kinds.heatmap_axes(["optimizer", "fn"]) is None
    assert kinds.heatmap_axes(["optimizer", "fn", "optim.lr"]) == ("optim.lr", "optimizer")


@pytest.mark.slow  # two sweeps in subprocesses, the report in a third
def test_two_sweeps_side_by_side_in_one_table_and_one_figure(tmp_path: Path) -> None:
    """`python -m src.report --parent A --parent B`: a row per job (the optimizer), a column per
    sweep and metric, one Figure 1 with a line per optimizer and sweep; LaTeX tables too."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    parents = []
    for lr in ("0.001", "0.01"):
        run_main(
            "-m", "optim=adam,amsgrad", "fn=online", f"optim.lr={lr}", "steps=1000",
            "log.points=20", "log.report=false", "log.figures=false",
            f"hydra.sweep.dir={tmp_path}/{lr}", f"tracking.uri={uri}",
        )  # fmt: skip
        parents.append((tmp_path / lr / "mlflow_parent_run_id").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "src.report", "--tracking-uri", uri, "--out", str(tmp_path / "out"),
         "--parent", parents[0], "--parent", parents[1]],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert folder.name == f"compare_{parents[0][:8]}_{parents[1][:8]}"
    with (folder / "compare.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["optimizer"] for row in rows] == ["Adam", "AMSGrad"]
    client = MlflowClient(uri)
    labels = [c.removeprefix("final_avg_regret · ") for c in rows[0] if "final_avg_regret" in c]
    assert len(labels) == 2
    for parent, label in zip(parents, labels, strict=True):
        for child in client.search_runs(
            [client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'"
        ):
            row = rows[0 if child.data.params["optim"] == "adam" else 1]
            assert (
                float(row[f"final_avg_regret · {label}"]) == child.data.metrics["final_avg_regret"]
            )
    assert imread(folder / "figure1.png").ndim == 3  # one figure: a line per job and sweep
    with (folder / "summary.csv").open() as handle:
        summary = list(csv.DictReader(handle))
    assert sorted((r["sweep"], r["optimizer"]) for r in summary) == sorted(
        (label, o) for label in labels for o in ("Adam", "AMSGrad")
    )
    for name in ("compare.tex", "summary.tex"):
        text = (folder / name).read_text()
        assert "\\toprule" in text and "\\bottomrule" in text and text.count("\\\\") >= 3
    assert "| Adam |" in (folder / "compare.md").read_text()
