"""A report's tables: one row per run (`summary_rows`), written as `summary.csv`, `summary.md`
and `summary.tex` (booktabs, for a paper); and two or more sweeps side by side (`compare_rows`:
one row per job, one column per sweep and metric)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mlflow.entities import Run

from src.report.kinds import KINDS
from src.report.labels import SEED, dim_value
from src.report.outcome import final_status
from src.report.runs import ChildRun

SWEEP = "sweep"  # the dimension (and param) that tells compared sweeps apart
SEED_METRICS = ("final_avg_regret", "final_distance", "final_x", "final_test_loss",
                "final_test_accuracy")  # fmt: skip
TEX_SKIP = ("run_id", "failure")  # too long for a paper's table: in summary.csv
TEX_SPECIALS = {c: f"\\{c}" for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\^{}"}


def summary_rows(runs: Sequence[ChildRun], dims: Sequence[str]) -> list[dict[str, object]]:
    """One row per run: its name, id, status, varying params, final metrics ('' if missing): the
    synthetic runs' (final_x, ...) and/or the task runs' (final_train_loss, ...)."""
    present = {run.kind for run in runs}
    metrics = list(dict.fromkeys(m for kind in KINDS if kind in present for m in kind.finals))
    rows = []
    for run in runs:
        row: dict[str, object] = {"run": run.name, "run_id": run.run_id, "status": run.status}
        row.update({dim: dim_value(run, dim) for dim in dims})
        row.update({m: run.metrics.get(m, "") for m in (*metrics, "steps_done")})
        row["failure"] = run.tags.get("failure.reason") or run.tags.get("error", "")
        rows.append(row)
    return rows


def seed_rows(runs: Sequence[ChildRun], dims: Sequence[str]) -> list[dict[str, object]]:
    """Runs that differ only in their seed as one row: the other swept values, how many seeds
    (`seeds`, FINISHED ones; `failed`, the others), and per headline metric the mean and the
    standard deviation over the finished seeds (ddof 1; '' with one seed). [] if no seed varies."""
    if SEED not in dims:
        return []
    keys = [d for d in dims if d != SEED]
    groups: dict[tuple[str, ...], list[ChildRun]] = {}
    for run in runs:
        groups.setdefault(tuple(dim_value(run, d) for d in keys), []).append(run)
    metrics = [m for m in SEED_METRICS if any(m in r.metrics for r in runs)]
    rows = []
    for ident, members in groups.items():
        done = [r for r in members if not r.failed]
        row: dict[str, object] = dict(zip(keys, ident, strict=True))
        row.update(seeds=len(done), failed=len(members) - len(done))
        for metric in metrics:
            values = [r.metrics[metric] for r in done if metric in r.metrics]
            row[f"{metric} mean"] = float(np.mean(values)) if values else ""
            row[f"{metric} sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else ""
        rows.append(row)
    return rows


def write_csv(rows: Sequence[dict[str, object]], path: Path) -> None:
    """The rows as CSV; floats written exactly (repr), so they read back equal."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            [{k: repr(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
        )


def number(v: object) -> str:
    """A cell: large floats with thousands separators, others to 6 significant digits."""
    if isinstance(v, float):
        return f"{v:,.0f}" if math.isfinite(v) and abs(v) >= 1e4 else f"{v:.6g}"
    return str(v)


def _md_cell(v: object) -> str:
    return number(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[dict[str, object]]) -> list[str]:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(_md_cell(row[k]) for k in header) + " |" for row in rows]


def sweep_status(parent: Run, rows: Sequence[dict[str, object]]) -> str:
    """The parent's status; while it is still open (a sweep writes its report before it closes
    its parent), the status it ends with."""
    status = parent.info.status
    if status != "RUNNING":
        return status
    return f"{final_status(str(r['status']) for r in rows)}: its jobs' outcome"


def markdown(
    parent: Run,
    rows: Sequence[dict[str, object]],
    files: Sequence[str],
    seeds: Sequence[dict[str, object]] = (),
) -> str:
    """summary.md: the sweep, its table, over seeds if the seed varies (`seed_rows`), and the
    report's files."""
    over_seeds = [
        "## Over seeds",
        "",
        "Runs that differ only in their seed: how many seeds stand behind each mean, and the "
        "standard deviation over them.",
        "",
        *(markdown_table(seeds) if seeds else []),
        "",
    ]
    params = parent.data.params
    lines = [
        f"# {parent.info.run_name or parent.info.run_id}",
        "",
        f"- parent run: `{parent.info.run_id}` ({sweep_status(parent, rows)})",
        f"- sweep folder: `{parent.data.tags.get('sweep_dir', '?')}`",
        f"- overrides: `{params.get('overrides', '?')}`",
        *[f"- {k}: `{v}`" for k, v in sorted(params.items()) if k.startswith("sweep.")],
        f"- runs: {len(rows)}, "
        + ", ".join(
            f"{status}: {sum(r['status'] == status for r in rows)}"
            for status in ("FINISHED", "FAILED", "KILLED", "RUNNING")
        ),
        "",
        *markdown_table(rows),
        "",
        *(over_seeds if seeds else []),
        "Files: " + ", ".join(f"[{name}]({name})" for name in files),
        "",
    ]
    return "\n".join(lines)


def tex_escape(text: str) -> str:
    return "".join(TEX_SPECIALS.get(c, c) for c in text.replace("\\", r"\textbackslash{}"))


def latex(rows: Sequence[dict[str, object]], caption: str = "") -> str:
    """The rows as a booktabs table (`\\usepackage{booktabs}`): numbers to 4 significant digits,
    right-aligned; run ids and failure messages left out (they are in summary.csv)."""
    header = [k for k in rows[0] if k not in TEX_SKIP]
    numeric = [all(isinstance(r[k], float | int) or r[k] == "" for r in rows) for k in header]

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}" if math.isfinite(value) else tex_escape(str(value))
        return tex_escape(str(value))

    spec = "".join("r" if n else "l" for n in numeric)
    lines = [
        "% summary.tex: needs \\usepackage{booktabs}",
        "\\begin{table}[ht]",
        "\\centering",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(tex_escape(k) for k in header) + " \\\\",
        "\\midrule",
        *[" & ".join(cell(row[k]) for k in header) + " \\\\" for row in rows],
        "\\bottomrule",
        "\\end{tabular}",
        *([f"\\caption{{{tex_escape(caption)}}}"] if caption else []),
        "\\end{table}",
        "",
    ]
    return "\n".join(lines)


def compare_rows(
    runs: Sequence[ChildRun], dims: Sequence[str], sweeps: Sequence[str]
) -> list[dict[str, object]]:
    """Sweeps side by side: one row per job (its values along `dims`, the sweep aside), one
    column per headline metric and sweep (`final_avg_regret · <sweep>`), '' where a sweep has no
    such job."""
    present = {run.kind for run in runs}
    metrics = [m for kind in KINDS if kind in present for m in kind.heatmaps]
    keys = [d for d in dims if d != SWEEP]
    table: dict[tuple[str, ...], dict[str, object]] = {}
    for run in runs:
        ident = tuple(dim_value(run, d) for d in keys) or (run.name,)
        row = table.setdefault(ident, dict(zip(keys or ["run"], ident, strict=True)))
        for metric in metrics:
            row[f"{metric} · {run.params[SWEEP]}"] = run.metrics.get(metric, "")
    columns = [f"{m} · {s}" for m in metrics for s in sweeps]
    return [{**{k: row[k] for k in keys or ["run"]}, **{c: row.get(c, "") for c in columns}}
            for row in table.values()]  # fmt: skip
