"""Report figures that hold for every preset and search (issue 23): real small sweeps into a
temporary store, their report PNGs read back (size in pixels) and their figures' matplotlib
objects inspected (legends, colour scales, titles, panels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from src.report import kinds
from src.report import sweep as report
from src.report.heatmaps import heatmap_figure
from tests.report.test_report import Sweep

MAX_PX = 3000  # a side, at the report's dpi


def size(path: Path) -> tuple[int, int]:
    height, width = imread(path).shape[:2]
    return width, height


def titles_overlap(fig) -> list[tuple[str, str]]:
    """Pairs of axes titles whose drawn boxes intersect."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(ax.title.get_text(), ax.title.get_window_extent(renderer)) for ax in fig.axes]
    boxes = [(t, b) for t, b in boxes if t]
    return [
        (a, c)
        for i, (a, b) in enumerate(boxes)
        for c, d in boxes[i + 1 :]
        if b.overlaps(d) and b.width > 0 and d.width > 0
    ]


def legend_entries(fig) -> int:
    """The most entries of any legend, on an axes or the figure."""
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    return max((len(leg.get_texts()) for leg in legends if leg is not None), default=0)


@pytest.fixture(scope="module")
def beta_grid(tmp_path_factory: pytest.TempPathFactory, beta_grid_store: Path) -> Sweep:
    """The beta_grid preset's sweep (`beta_grid_store`, shared with tests/tracking), its report
    written here."""
    return Sweep(tmp_path_factory.mktemp("beta_grid"), ran_in=beta_grid_store)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """Adam and AMSGrad on the stochastic problem, four seeds each."""
    return Sweep(tmp_path_factory.mktemp("seeds"), "fn=stochastic", "seed=0,1,2,3", "steps=2000")


@pytest.fixture(scope="module")
def ddim(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """docs/ddim.md's example: Adam and AMSGrad on periodic_nd, box and ball_weighted."""
    return Sweep(
        tmp_path_factory.mktemp("ddim"),
        "optim=adam,amsgrad",
        "fn=periodic_nd",
        "projection=box,ball_weighted",
        "steps=2000",
        "log.figures=true",
    )


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """+search=break_adam with 12 trials (24 runs: each trial and its AMSGrad reference), each
    its own problem."""
    return Sweep(
        tmp_path_factory.mktemp("search"),
        "+search=break_adam",
        "steps=2000",
        "hydra.sweeper.n_trials=12",
    )


@pytest.fixture(scope="module")
def bisection(tmp_path_factory: pytest.TempPathFactory, bisect_c_store: Path) -> Sweep:
    """+search=bisect_c as shipped (`bisect_c_store`, shared with tests/search/test_bisection): a
    dozen probes of fn.C, each its own problem; its report written here."""
    return Sweep(tmp_path_factory.mktemp("bisect"), ran_in=bisect_c_store)


@pytest.mark.slow
def test_a_bisections_report_is_bounded_and_names_the_optimizer(bisection: Sweep) -> None:
    width, height = size(bisection.folder / "figure1.png")
    assert width <= MAX_PX and height <= MAX_PX
    fig = kinds.figure1(bisection.runs, bisection.dims)
    titles = [ax.get_title() for ax in fig.axes if ax.get_lines()]
    assert titles and all(t.split(" ", 1)[1].startswith("Adam: ") for t in titles), titles
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [ax.get_ylabel() for ax in colorbars] == ["C"]  # a line per probe, coloured by C


@pytest.mark.slow
def test_beta_grid_figure_is_bounded_with_a_colour_scale_not_a_legend(beta_grid: Sweep) -> None:
    width, height = size(beta_grid.folder / "figure1.png")
    assert width <= MAX_PX and height <= MAX_PX
    fig = kinds.figure1(beta_grid.runs, beta_grid.dims)
    assert legend_entries(fig) <= 8
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [ax.get_ylabel() or ax.get_xlabel() for ax in colorbars] == ["β₂"]
    assert not titles_overlap(fig)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_lines()]
    assert len(panels) == 5 * 4  # a column per β₁; R_t/t and x_t of each problem
    assert all(len(ax.get_lines()) == 6 for ax in panels)  # a line per β₂


@pytest.mark.slow
def test_beta_grid_heatmaps_are_the_distance_to_the_best_point_on_a_fixed_scale(
    beta_grid: Sweep,
) -> None:
    assert (beta_grid.folder / "heatmap_final_distance.png").is_file()
    assert not (beta_grid.folder / "heatmap_tail_x_mean.png").exists()
    width, height = size(beta_grid.folder / "heatmap_final_distance.png")
    assert width <= MAX_PX and height <= MAX_PX
    grids = kinds.heatmap_grids(beta_grid.runs, beta_grid.dims, "final_distance")
    fig = heatmap_figure(grids, "final_distance")
    for ax in fig.axes:
        if ax.images:
            assert (ax.images[0].norm.vmin, ax.images[0].norm.vmax) == (0.0, 1.0)


@pytest.mark.slow
def test_a_searchs_report_is_bounded_and_its_problems_are_a_colour_scale(search: Sweep) -> None:
    width, height = size(search.folder / "figure1.png")
    assert width <= MAX_PX and height <= MAX_PX
    fig = kinds.figure1(search.runs, search.dims)
    assert legend_entries(fig) <= 8
    assert not titles_overlap(fig)


@pytest.mark.slow
def test_a_searchs_best_problem_regret_starts_after_t_1(search: Sweep) -> None:
    from src.search.callback import best_problem_figure

    best = next(r for r in search.runs if r.tags.get("best_trial") == "true")
    reference = search.client.get_run(best.tags["search.reference_run"])
    fig = best_problem_figure(search.client, search.client.get_run(best.run_id), reference, [])
    regret = fig.axes[0]
    assert regret.get_ylabel() == "$R_t/t$"
    assert all(line.get_xdata().min() > 1 for line in regret.get_lines())
    assert "once every" in fig.get_suptitle()  # the problem's own words, not its keys


@pytest.mark.slow
def test_ddim_figure_has_a_panel_per_coordinate_and_says_the_projection(ddim: Sweep) -> None:
    fig = kinds.figure1(ddim.runs, ddim.dims)
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_lines()]
    assert ylabels == ["$R_t/t$", "$x_{t,0}$", "$x_{t,1}$"]
    for ax in fig.axes:
        if ax.get_lines():
            assert all(len(line.get_xdata()) > 0 for line in ax.get_lines())  # none empty
    labels = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert labels == {f"{o}, projection={p}" for o in ("Adam", "AMSGrad")
                      for p in ("box", "ball_weighted")}  # fmt: skip
    title = fig.axes[0].get_title()
    assert "once every 101 steps" in title and "nan" not in title
    words = "x_0: 1010x once every 101 steps; x_1: 50x once every 3 steps; else −10x"
    assert {run.tags["problem"] for run in ddim.runs} == {words}  # the job's fn.describe()
    width, height = size(ddim.folder / "figure1.png")
    assert width <= MAX_PX and height <= MAX_PX


@pytest.mark.slow
def test_a_ddim_runs_own_figure_has_an_envelope_per_coordinate(ddim: Sweep, tmp_path: Path) -> None:
    run = ddim.runs[0]
    path = ddim.client.download_artifacts(run.run_id, "trajectory.png", str(tmp_path))
    width, height = size(Path(path))
    assert width <= MAX_PX and height <= MAX_PX
    with np.load(ddim.client.download_artifacts(run.run_id, "trajectory.npz", str(tmp_path))) as z:
        assert z["x_min"].shape == z["x"].shape


@pytest.mark.slow
def test_seeds_are_one_line_with_a_band_and_the_report_says_how_many(seeds: Sweep) -> None:
    fig = kinds.figure1(seeds.runs, seeds.dims)
    x_panel = fig.axes[1]
    assert [line.get_label() for line in x_panel.get_lines()] == [
        "Adam (4 seeds)",
        "AMSGrad (4 seeds)",
    ]
    adam = [r for r in seeds.runs if r.params["optim.amsgrad"] == "False"]
    mean = np.mean([r.histories["x"][1] for r in adam], axis=0)
    np.testing.assert_allclose(x_panel.get_lines()[0].get_ydata(), mean)
    summary = (seeds.folder / "summary.md").read_text()
    assert "| Adam | 4 |" in summary and "final_avg_regret sd" in summary
    width, height = size(seeds.folder / "figure1.png")
    assert width <= MAX_PX and height <= MAX_PX
    assert report.DEFAULT_EXPERIMENT is None


def test_heatmaps_take_the_worst_coordinate_when_the_runs_logged_it() -> None:
    from src.report.runs import ChildRun

    def child(metrics: dict[str, float]) -> ChildRun:
        params = {"fn.class": "VectorPeriodic", "optim.class": "Adam"}
        return ChildRun("id", "n", "FINISHED", params, metrics, {}, {}, None, kinds.SYNTHETIC)

    one_d = [child({"final_distance": 0.2})]
    assert kinds.heatmap_metrics(kinds.SYNTHETIC, one_d) == ["final_distance", "final_avg_regret"]
    worst = [child({"final_distance": 0.2, "final_distance_max": 0.9})]
    assert kinds.heatmap_metrics(kinds.SYNTHETIC, worst) == [
        "final_distance_max",
        "final_avg_regret",
    ]


def test_a_colour_scale_gives_few_values_a_colour_each_and_wide_ranges_a_log_scale() -> None:
    from matplotlib.colors import BoundaryNorm, LogNorm

    from src.report.grid_figure import ColorScale

    betas = ColorScale("β₂", [0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999])
    assert isinstance(betas.norm(), BoundaryNorm)  # one colour per value, evenly spread
    colors = [betas.color(v) for v in betas.distinct]
    assert len(set(colors)) == 6
    search = ColorScale("C", list(np.geomspace(1, 1e5, 30)))
    assert isinstance(search.norm(), LogNorm)
