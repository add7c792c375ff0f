"""A Hydra sweeper that bisects one parameter for a phase boundary (`hydra/sweeper=bisection`).

Each probe is one job of the ordinary runner (a child run of the sweep's parent); the job returns
its scale-free objective (a `search` node in the config, `src.search.objective`, e.g.
`final_distance`). A probe *fails* when objective ≥ `threshold`. The sweeper probes both ends of
[low, high] (they must disagree), then halves the bracket — at the arithmetic midpoint, or the
geometric one with `log: true` — keeping the end that fails on one side and the end that does not
on the other, until high − low ≤ `tolerance` (with `log: true`, high/low ≤ 1 + tolerance) or
`max_probes` jobs ran. The boundary is the bracket's midpoint; an integer key stops when the two
ends are adjacent integers.

At the end it logs on the sweep's parent run (created by `src.tracking.sweep`): params
`bisection.key`, `bisection.failing_side` (low | high), `bisection.threshold`, `bisection.metric`;
metrics `boundary`, `bracket_low`, `bracket_high`, `probes`; and `bisection.csv` (every probe's
value and objective). It writes the same to `<sweep dir>/bisection.yaml` and prints one line.
Beside the measured bracket it logs what theory predicts where it is known
(`src.search.prediction`, param `bisection.prediction` says how): `predicted_boundary`, the
optimizer's own (Adam's drift per period changes sign), and `problem_boundary`, where x* flips —
a fact of the problem that any optimizer meets, reported apart.

Swept over a second parameter (`-m +search=bisect_beta2 fn.C=500,1000,2000`: a command-line sweep
of any other key), it runs one bisection per value, in order, and logs per value the metrics
`boundary`, `bracket_low`, `bracket_high` at step = the value's index, `boundaries.csv` and
`boundary.png` (`src.report.figures.boundary_figure`: the boundary with its bracket over that
parameter); `bisection.yaml` lists them under `boundaries`. A value whose bracket holds no boundary
is recorded as such and the others still run; the sweep then exits 1 at the end.
"""

import csv
import itertools
import logging
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import MISSING, DictConfig, OmegaConf

log = logging.getLogger(__name__)
PREDICTED = ("predicted_boundary", "problem_boundary")  # src.search.prediction, when known


@dataclass
class BisectionSweeperConf:
    _target_: str = "hydra_plugins.breaking_adam_bisection.bisection_sweeper.BisectionSweeper"
    key: str = MISSING  # the parameter bisected, e.g. fn.C or optim.betas.1
    low: float = MISSING
    high: float = MISSING
    tolerance: float = MISSING  # absolute (or relative, with log) width of the final bracket
    threshold: float = 0.5  # a probe fails when its objective ≥ threshold
    log: bool = False  # geometric midpoints (both ends > 0)
    integer: bool = False  # probe integers only
    max_probes: int = 40
    params: dict[str, str] = field(default_factory=dict)  # fixed overrides for every probe


ConfigStore.instance().store(
    group="hydra/sweeper", name="bisection", node=BisectionSweeperConf, provider="breaking-adam"
)


def split_sweeps(arguments: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The command line's fixed overrides, and its swept keys with their values in order."""
    fixed, swept = [], {}
    for override in OverridesParser.create().parse_overrides(arguments):
        if override.is_sweep_override():
            key = override.get_key_element()
            swept[key] = [str(value) for value in override.sweep_string_iterator()]
        else:
            fixed.append(override.input_line)
    return fixed, swept


def midpoint(low: float, high: float, log_scale: bool, integer: bool) -> float:
    mid = math.sqrt(low * high) if log_scale else 0.5 * (low + high)
    return float(min(max(round(mid), low + 1), high - 1)) if integer else mid


def narrow_enough(
    low: float, high: float, tolerance: float, log_scale: bool, integer: bool
) -> bool:
    if integer and high - low <= 1:
        return True
    return high / low <= 1 + tolerance if log_scale else high - low <= tolerance


class BisectionSweeper(Sweeper):
    def __init__(
        self,
        key: str,
        low: float,
        high: float,
        tolerance: float,
        threshold: float = 0.5,
        log: bool = False,
        integer: bool = False,
        max_probes: int = 40,
        params: dict[str, str] | None = None,
    ) -> None:
        if not low < high:
            raise ValueError(f"hydra.sweeper: low={low} must be below high={high}")
        if log and low <= 0:
            raise ValueError(f"hydra.sweeper: log=true needs low > 0 (got low={low})")
        if tolerance <= 0:
            raise ValueError(f"hydra.sweeper.tolerance={tolerance}: must be > 0")
        self.key, self.low, self.high = key, float(low), float(high)
        self.tolerance, self.threshold = float(tolerance), float(threshold)
        self.log_scale, self.integer, self.max_probes = bool(log), bool(integer), int(max_probes)
        self.params = dict(params or {})
        self.probes: list[tuple[float, float]] = []

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.job_idx = 0

    def _value_text(self, value: float) -> str:
        return str(int(value)) if self.integer else repr(float(value))

    def probe(self, value: float, arguments: list[str]) -> bool:
        """Run one job at `key=value`; whether it failed (objective ≥ threshold)."""
        fixed = [f"{k}={v}" for k, v in self.params.items() if k != self.key]
        overrides = [*fixed, *arguments, f"{self.key}={self._value_text(value)}"]
        (ret,) = self.launcher.launch([overrides], initial_job_idx=self.job_idx)
        self.job_idx += 1
        objective = ret.return_value  # re-raises a job's exception
        try:
            objective = float(objective)
        except (TypeError, ValueError):
            raise RuntimeError(
                f"bisection: the probe {self.key}={self._value_text(value)} returned no objective "
                f"({objective}); a bisection preset sets `search.objective`"
            ) from None
        self.probes.append((value, objective))
        log.info(f"probe {self.key}={self._value_text(value)}: objective {objective:.6g}")
        return objective >= self.threshold

    def bisect(self, arguments: list[str]) -> dict[str, Any] | None:
        """One bisection with `arguments` fixed; None if both ends agree (no boundary)."""
        self.probes = []
        low, high = (
            (float(round(self.low)), float(round(self.high)))
            if self.integer
            else (self.low, self.high)
        )
        fail_low, fail_high = self.probe(low, arguments), self.probe(high, arguments)
        if fail_low == fail_high:
            state = "fail" if fail_low else "do not fail"
            given = f" ({', '.join(arguments)})" if arguments else ""
            print(
                f"error: bisection: both ends of {self.key} ∈ [{low:g}, {high:g}] {state} "
                f"(threshold {self.threshold}){given}: no boundary in the bracket",
                file=sys.stderr,
            )
            return None
        while not narrow_enough(low, high, self.tolerance, self.log_scale, self.integer):
            if len(self.probes) >= self.max_probes:
                log.warning(f"bisection: stopped after max_probes={self.max_probes}")
                break
            mid = midpoint(low, high, self.log_scale, self.integer)
            if self.probe(mid, arguments) == fail_low:
                low = mid
            else:
                high = mid
        boundary = midpoint(low, high, self.log_scale, False)
        side = "below" if fail_low else "above"
        print(
            f"bisection: {self.key} boundary {boundary:.6g}, bracket [{low:.6g}, {high:.6g}] "
            f"({len(self.probes)} probes; fails {side})"
        )
        return {
            "key": self.key,
            "boundary": boundary,
            "bracket": [low, high],
            "failing_side": "low" if fail_low else "high",
            "threshold": self.threshold,
            "probes": [[v, o] for v, o in self.probes],
            **self.prediction(arguments),
        }

    def prediction(self, arguments: list[str]) -> dict[str, Any]:
        """The optimizer's predicted boundary over the sweeper's [low, high] (where its drift per
        period changes sign) and the problem's (where x* flips), from a probe's config composed
        as the launcher composes it (`src.search.prediction`); printed in one line."""
        from src.search.prediction import predict

        fixed = [f"{k}={v}" for k, v in self.params.items() if k != self.key]
        value = f"{self.key}={self._value_text(self.low)}"
        job = self.hydra_context.config_loader.load_sweep_config(
            self.config, [*fixed, *arguments, value]
        )
        found = predict(job, self.key, self.low, self.high, self.log_scale)
        words = [f"bisection: predicted {self.key} boundary"]
        words.append(
            f"{found.optimizer:.6g} ({found.why})" if found.optimizer else f"none: {found.why}"
        )
        if found.problem is not None:
            words.append(f"; x* flips at {self.key}={found.problem:g} (the problem's boundary)")
        print(" ".join(words[:2]) + "".join(words[2:]))
        out: dict[str, Any] = {"prediction": found.why}
        if found.optimizer is not None:
            out["predicted_boundary"] = found.optimizer
        if found.problem is not None:
            out["problem_boundary"] = found.problem
        return out

    def sweep(self, arguments: list[str]) -> Any:
        fixed, swept = split_sweeps(arguments)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if not swept:
            result = self.bisect(fixed)
            if result is None:
                raise SystemExit(1)  # the sweep's parent is closed FAILED at exit
            OmegaConf.save(OmegaConf.create(result), sweep_dir / "bisection.yaml")
            self._log_parent(result, sweep_dir)
            return result
        over = list(swept)
        rows = []
        for values in itertools.product(*swept.values()):
            given = [f"{k}={v}" for k, v in zip(over, values, strict=True)]
            result = self.bisect([*fixed, *given])
            rows.append({"over": dict(zip(over, values, strict=True)), **(result or {})})
        summary = {"key": self.key, "over": over, "boundaries": rows}
        OmegaConf.save(OmegaConf.create(summary), sweep_dir / "bisection.yaml")
        self._log_boundaries(summary, sweep_dir)
        if any("boundary" not in row for row in rows):
            raise SystemExit(1)
        return summary

    def _log_parent(self, result: dict[str, Any], sweep_dir: Path) -> None:
        from src.tracking import store as tracking
        from src.tracking.sweep import parent_run_id

        parent = parent_run_id(sweep_dir.resolve())
        if parent is None:
            return
        client, _ = tracking.connect(
            str(self.config.tracking.uri), str(self.config.tracking.experiment)
        )
        search = self.config.get("search") or {}
        tracking.log_params(
            client,
            parent,
            {
                "bisection.key": self.key,
                "bisection.failing_side": result["failing_side"],
                "bisection.threshold": self.threshold,
                "bisection.metric": search.get("objective", "final_distance"),
                "bisection.prediction": result["prediction"],
            },
        )
        low, high = result["bracket"]
        tracking.log_metrics(
            client,
            parent,
            {
                "boundary": result["boundary"],
                "bracket_low": low,
                "bracket_high": high,
                "probes": float(len(self.probes)),
                **{k: result[k] for k in PREDICTED if k in result},
            },
            step=0,
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bisection.csv"
            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["probe", self.key, "objective"])
                for number, (value, objective) in enumerate(self.probes):
                    writer.writerow([number, value, objective])
            tracking.log_files(client, parent, [(path, None)])

    def _log_boundaries(self, summary: dict[str, Any], sweep_dir: Path) -> None:
        """A boundary per value of the swept parameter(s) on the parent: metrics at step = the
        value's index, `boundaries.csv` and `boundary.png` (over the first swept key)."""
        from src.report.figures import boundary_figure
        from src.tracking import store as tracking
        from src.tracking.sweep import parent_run_id

        parent = parent_run_id(sweep_dir.resolve())
        if parent is None:
            return
        client, _ = tracking.connect(
            str(self.config.tracking.uri), str(self.config.tracking.experiment)
        )
        over, rows = summary["over"], summary["boundaries"]
        search = self.config.get("search") or {}
        tracking.log_params(
            client,
            parent,
            {
                "bisection.key": self.key,
                "bisection.over": ",".join(over),
                "bisection.threshold": self.threshold,
                "bisection.metric": search.get("objective", "final_distance"),
            },
        )
        for step, row in enumerate(rows):
            if "boundary" in row:
                low, high = row["bracket"]
                metrics = {"boundary": row["boundary"], "bracket_low": low, "bracket_high": high}
                metrics.update({k: row[k] for k in PREDICTED if k in row})
                tracking.log_metrics(client, parent, metrics, step=step)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "boundaries.csv"
            with path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(
                    [*over, "boundary", "bracket_low", "bracket_high", "probes", *PREDICTED]
                )
                for row in rows:
                    low, high = row.get("bracket", ["", ""])
                    found = [row.get("boundary", ""), low, high, len(row.get("probes", []))]
                    found += [row.get(k, "") for k in PREDICTED]
                    writer.writerow([*(row["over"][k] for k in over), *found])
            points = [
                {"value": row["over"][over[0]], "boundary": row.get("boundary"),
                 "bracket": row.get("bracket")}
                for row in rows
            ]  # fmt: skip
            figure = boundary_figure(self.key, over[0], points)
            png = Path(folder) / "boundary.png"
            figure.savefig(png, dpi=120)
            tracking.log_files(client, parent, [(path, None), (png, None)])
