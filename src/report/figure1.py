"""The paper's Figure 1 for any sweep of synthetic runs, up to ~100 runs: R_t/t and x_t (each
coordinate of a d-dimensional x) against the iterations, titled by each problem's own words.

- Runs that differ only in `seed` are one line: their mean, a band of ± one standard deviation,
  and the legend says how many seeds (`(4 seeds)`).
- Up to `MAX_LEGEND` lines a panel: the paper's layout (the first problem's R_t/t and x_t, x_t of
  each further one), one legend below the panels.
- More (beta_grid's 30): small multiples, a column per value of the other swept keys (β₁), the
  lines coloured by the last swept number (β₂) on one colour bar.
- More problems than `MAX_PROBLEMS` (a search's trials, each its own problem): a column per
  optimizer, a line per problem coloured by the first swept key of the problem (C).

Every figure is bounded to a screen (`src.report.grid_figure`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from src.report.figures import REGRET_T, X_T, Curve, Panel, line_colors
from src.report.grid_figure import MAX_LEGEND, ColorScale, grid_figure
from src.report.labels import (
    FN_NAMES,
    SEED,
    dim_value,
    fn_label,
    line_label,
    optimizer_label,
    problem_title,
    short,
    sort_key,
)
from src.report.runs import ChildRun

MAX_PROBLEMS = 6  # more distinct problems: a line per problem, not a panel
MAX_COORDINATES = 4  # x_{t,i} panels of a d-dimensional run; the rest in trajectory.png
PAPER_COLUMNS = 4  # the paper's layout wraps after this many panels
SHARED = {
    "optim.lr": "lr",
    "optim.betas": "betas",
    "steps": "steps",
    "replicates": "replicates",
    "dtype": "dtype",
    "projection": "projection",
}  # param -> its subtitle name
Quantity = tuple[str, str, int | None]  # (history, y label, coordinate of a d-dim x)


def shared_settings(runs: Sequence[ChildRun], keys: dict[str, str] = SHARED) -> str:
    """The settings every run shares, for a subtitle: 'lr=0.001, betas=[0.9, 0.99], …'."""
    parts = []
    for key, name in keys.items():
        values = {r.params.get(key) for r in runs if r.params}
        if len(values) == 1 and None not in values:
            text = str(values.pop())
            if text.isdigit() and len(text) > 4:  # 6,000,000
                text = f"{int(text):,}"
            parts.append(f"{name}={text}")
    return ", ".join(parts)


def run_curve(
    run: ChildRun, key: str, label: str, color: object, coordinate: int | None = None
) -> Curve:
    """The run's logged history of `key` as a line (coordinate i of a d-dimensional x: from its
    trajectory), its band the replicates' min–max, for x the envelope between logged steps."""
    traj = run.trajectory
    if coordinate is not None:
        if traj is None or traj["x"].ndim != 3:
            return Curve(label, np.zeros(0), np.zeros(0), color=color, failed=run.failed)
        x = traj["x"][:, :, coordinate]
        curve = Curve(label, traj["log_steps"], x.mean(1), color=color, failed=run.failed)
        if "x_min" in traj:
            curve.low = traj["x_min"][:, :, coordinate].min(1)
            curve.high = traj["x_max"][:, :, coordinate].max(1)
        return curve
    steps, values = run.histories.get(key, (np.zeros(0, np.int64), np.zeros(0)))
    curve = Curve(label, steps, values, color=color, failed=run.failed)
    if traj is not None and traj[key].ndim == 2 and len(traj[key]):
        curve.band_steps = traj["log_steps"]
        if key == "x" and "x_min" in traj:
            curve.low, curve.high = traj["x_min"].min(1), traj["x_max"].max(1)
        elif traj[key].shape[1] > 1:
            curve.low, curve.high = traj[key].min(1), traj[key].max(1)
    return curve


def line_curve(
    members: Sequence[ChildRun], quantity: Quantity, label: str, color: object, band: bool = True
) -> Curve:
    """One line of runs that differ only in their seed: a run's own curve, else the seeds' mean
    on their common steps with a band of ± one standard deviation."""
    key, _, coordinate = quantity
    curves = [run_curve(run, key, label, color, coordinate) for run in members]
    if len(curves) == 1:
        curve = curves[0]
    else:
        common = curves[0].steps
        for c in curves[1:]:
            common = np.intersect1d(common, c.steps)
        stacked = np.array([np.asarray(c.values)[np.isin(c.steps, common)] for c in curves])
        mean, sd = stacked.mean(0), stacked.std(0, ddof=1)
        failed = any(run.failed for run in members)
        curve = Curve(label, common, mean, mean - sd, mean + sd, color=color, failed=failed)
    if not band:
        curve.low = curve.high = curve.band_steps = None
    return curve


def quantities(runs: Sequence[ChildRun]) -> list[Quantity]:
    """x_t, or x_{t,i} per coordinate (up to `MAX_COORDINATES`) when the runs' x is a vector."""
    dims = [
        r.trajectory["x"].shape[2] for r in runs if r.trajectory and r.trajectory["x"].ndim == 3
    ]
    if not dims:
        return [("x", X_T, None)]
    return [("x", f"$x_{{t,{i}}}$", i) for i in range(min(max(dims), MAX_COORDINATES))]


def _fn_order(title: str) -> tuple[int, str]:
    names = list(FN_NAMES.values())
    head = title.split(":", 1)[0]
    return (names.index(head) if head in names else len(names), title)


def _numeric(runs: Sequence[ChildRun], dim: str) -> bool:
    try:
        [float(dim_value(r, dim)) for r in runs]
    except ValueError:
        return False
    return True


def _groups(
    runs: Sequence[ChildRun], dims: Sequence[str], ordered: bool = False
) -> dict[tuple[str, ...], list]:
    """Runs by their values along `dims` (seeds together), in job order (`ordered`: by value)."""
    groups: dict[tuple[str, ...], list[ChildRun]] = {}
    for run in runs:
        groups.setdefault(tuple(dim_value(run, d) for d in dims), []).append(run)
    if not ordered:
        return groups
    return dict(sorted(groups.items(), key=lambda kv: [sort_key(v) for v in kv[0]]))


def seeds_note(members: Sequence[ChildRun]) -> str:
    return f" ({len(members)} seeds)" if len(members) > 1 else ""


def figure1(runs: Sequence[ChildRun], dims: Sequence[str]) -> Figure:
    """Figure 1 of these runs (see the module docstring), titled with the settings they share."""
    problems: dict[str, list[ChildRun]] = {}
    for run in runs:
        problems.setdefault(problem_title(run), []).append(run)
    line_dims = [d for d in dims if d not in (SEED, "fn") and not d.startswith("fn.")]
    settings = shared_settings(runs) or None
    if len(problems) > MAX_PROBLEMS:
        return many_problems(runs, dims, line_dims, settings)
    ordered = sorted(problems, key=_fn_order)
    most = max(len(_groups(problems[t], line_dims)) for t in ordered)
    numeric = [d for d in line_dims if _numeric(runs, d)]
    if most <= MAX_LEGEND or not numeric:
        return paper_layout(runs, dims, [(t, problems[t]) for t in ordered], settings)
    return small_multiples(
        dims, [(t, problems[t]) for t in ordered], line_dims, numeric[-1], settings
    )


def paper_layout(
    runs: Sequence[ChildRun],
    dims: Sequence[str],
    problems: list[tuple[str, list[ChildRun]]],
    title: str | None,
) -> Figure:
    """R_t/t and x_t of the first problem, x_t of each further one, a line per optimizer (and
    other swept value), a legend below; rows of at most `PAPER_COLUMNS` panels."""
    line_dims = [d for d in dims if d != SEED]
    lines = {
        key: members for _, group in problems for key, members in _groups(group, line_dims).items()
    }
    labels = {key: line_label(m[0], dims) + seeds_note(m) for key, m in lines.items()}
    optimizers = [optimizer_label(m[0].params) for m in lines.values()]
    colors = line_colors(list(labels.values()), optimizers)
    panels = []
    for n, (name, group) in enumerate(problems):
        wanted = ([("avg_regret", REGRET_T, None)] if n == 0 else []) + quantities(group)
        for quantity in wanted:
            curves = [
                line_curve(members, quantity, labels[key], colors[labels[key]])
                for key, members in _groups(group, line_dims).items()
            ]
            panels.append(Panel(name, quantity[1], curves))
    rows = [panels[i : i + PAPER_COLUMNS] for i in range(0, len(panels), PAPER_COLUMNS)]
    seeded = any(len(m) > 1 for m in lines.values())
    note = "a line: the mean over seeds, its band ± 1 sd" if seeded else ""
    return grid_figure(rows, "; ".join(filter(None, [title, note])))


def small_multiples(
    dims: Sequence[str],
    problems: list[tuple[str, list[ChildRun]]],
    line_dims: Sequence[str],
    color_key: str,
    title: str | None,
) -> Figure:
    """A column per value of the swept keys besides `color_key`, a row per problem and quantity,
    a line per value of `color_key` coloured on one colour bar."""
    facet_dims = [d for d in line_dims if d != color_key]
    runs = [run for _, group in problems for run in group]
    scale = ColorScale(short(color_key), [float(dim_value(r, color_key)) for r in runs])
    facets = list(_groups(runs, facet_dims, ordered=True))
    rows = []
    for _, group in problems:
        by_facet = _groups(group, facet_dims)
        for quantity in [("avg_regret", REGRET_T, None), *quantities(group)]:
            row = []
            for facet in facets:
                members = by_facet.get(facet, [])
                words = ", ".join(
                    v if d in ("optimizer", "projection") else f"{short(d)}={v}"
                    for d, v in zip(facet_dims, facet, strict=True)
                )
                curves = [
                    line_curve(
                        m,
                        quantity,
                        f"{short(color_key)}={v[0]}" + seeds_note(m),
                        scale.color(float(v[0])),
                        quantity[0] == "x",
                    )
                    for v, m in _groups(members, [color_key], ordered=True).items()
                ]
                row.append(
                    Panel(f"{fn_label(group[0].params)}, {words}".rstrip(", "), quantity[1], curves)
                )
            rows.append(row)
    words = "; ".join(name for name, _ in problems)
    seeds = max(len(m) for m in _groups(runs, [d for d in dims if d != SEED]).values())
    note = f"; each line the mean of {seeds} seeds" if seeds > 1 else ""
    return grid_figure(rows, "; ".join(filter(None, [words + note, title])), scale)


def many_problems(
    runs: Sequence[ChildRun], dims: Sequence[str], line_dims: Sequence[str], title: str | None
) -> Figure:
    """A search's trials: a column per optimizer (and other swept value), R_t/t and x_t rows, a
    line per problem coloured by the first swept number of the problem."""
    fn_dims = [d for d in dims if d.startswith("fn.") and _numeric(runs, d)]
    key = fn_dims[0] if fn_dims else None
    problems = list(dict.fromkeys(problem_title(r) for r in runs))
    value = (
        (lambda r: float(dim_value(r, key)))
        if key
        else (lambda r: problems.index(problem_title(r)))
    )  # noqa: E731
    scale = ColorScale(short(key) if key else "problem", [value(r) for r in runs])
    facets = _groups(runs, line_dims, ordered=True)
    rows = []
    for quantity in [("avg_regret", REGRET_T, None), *quantities(runs)]:
        row = []
        x_band = quantity[0] == "x"  # x's envelope: what the sampled line may alias
        for facet, members in facets.items():
            by_problem = _groups(members, [d for d in dims if d not in line_dims and d != SEED])
            curves = [
                line_curve(m, quantity, problem_title(m[0]), scale.color(value(m[0])), x_band)
                for m in by_problem.values()
            ]
            who = ", ".join(facet) or optimizer_label(members[0].params)
            row.append(Panel(f"{who}: {len(by_problem)} problems", quantity[1], curves))
        rows.append(row)
    words = f"a line per problem ({len(problems)}), coloured by {scale.label}"
    return grid_figure(rows, "; ".join(filter(None, [words, title])), scale)
