"""A sweep's outcome on its parent run: the status it ends with, and its summary as metrics, so
MLflow's runs table shows each sweep's result on its own row (issue 28).

- `final_status(statuses)`: FAILED or KILLED if a job ended so, else FINISHED (as
  `src.tracking.sweep` closes the parent);
- `sweep_metrics(children)`: `jobs`, `jobs_finished`, `jobs_failed`; for each headline metric the
  children logged (`final_avg_regret`, `final_distance`, `final_test_loss`,
  `final_test_accuracy`): `<metric>.best` and `<metric>.worst` over the finished jobs and, when
  the sweep varies the options (`optim`, `fn`, `task`, `data`) over at most `MAX_GROUPS`
  combinations, `<metric>.<options>` (e.g. `final_avg_regret.adam.online`), the best job of each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# headline metric -> whether lower is better
HEADLINE = {
    "final_avg_regret": True,
    "final_distance": True,
    "final_test_loss": True,
    "final_test_accuracy": False,
}
OPTIONS = ("optim", "fn", "task", "data")  # the choice params that name a run
MAX_GROUPS = 12  # more option combinations than this: best and worst only
UNFINISHED = ("FAILED", "KILLED")


def final_status(statuses: Iterable[str]) -> str:
    """The sweep's status from its jobs': FAILED or KILLED if any ended so, else FINISHED."""
    seen = set(statuses)
    return next((status for status in UNFINISHED if status in seen), "FINISHED")


def _groups(children: Sequence[Any]) -> dict[str, list[Any]]:
    """The children by the options that vary between them (`adam.online`), {} if none vary or
    too many combinations."""
    params = [child.data.params for child in children]
    varying = [k for k in OPTIONS if len({p.get(k) for p in params}) > 1]
    if not varying:
        return {}
    groups: dict[str, list[Any]] = {}
    for child, p in zip(children, params, strict=True):
        groups.setdefault(".".join(p.get(k) or "-" for k in varying), []).append(child)
    return groups if len(groups) <= MAX_GROUPS else {}


def _best(values: list[float], lower: bool) -> float:
    return min(values) if lower else max(values)


def _worst(values: list[float], lower: bool) -> float:
    return max(values) if lower else min(values)


def _finite(children: Sequence[Any], metric: str) -> list[float]:
    """The metric of every FINISHED child that logged a finite value."""
    values = [c.data.metrics.get(metric) for c in children if c.info.status == "FINISHED"]
    return [v for v in values if v is not None and math.isfinite(v)]


def sweep_metrics(children: Sequence[Any]) -> dict[str, float]:
    """The parent's metrics (see the module docstring) from its child runs (MLflow `Run`s)."""
    statuses = [child.info.status for child in children]
    metrics: dict[str, float] = {
        "jobs": float(len(children)),
        "jobs_finished": float(statuses.count("FINISHED")),
        "jobs_failed": float(sum(s in UNFINISHED for s in statuses)),
    }
    groups = _groups(children)
    for metric, lower in HEADLINE.items():
        values = _finite(children, metric)
        if not values:
            continue
        metrics[f"{metric}.best"] = _best(values, lower)
        metrics[f"{metric}.worst"] = _worst(values, lower)
        for name, members in groups.items():
            found = _finite(members, metric)
            if found:
                metrics[f"{metric}.{name}"] = _best(found, lower)
    return metrics


def headline_metrics(metrics: Mapping[str, float]) -> list[str]:
    """The headline metrics among a run's metric names, in HEADLINE's order."""
    return [m for m in HEADLINE if m in metrics]
