"""`make bench`: the engines side by side, in one process, on Figure 1's online problem.

Measures (Adam with amsgrad=True, lr 0.001, betas (0.9, 0.99), x clamped to [−1, 1]):
  1. the seed tutorial's torchbearer `Trial` loop (short run, extrapolated; the `bench` extra),
  2. a plain autograd + torch.optim loop (what one writes by hand),
  3. the project's reference engine (`src.engines.torch_loop.run`),
  4. the fast engine with R = 1 and R = 100 replicates, on the online and (drawing its rare steps
     from the seeded streams) the stochastic problem,
then the wall time of the default sweep (4 × 6,000,000 steps, Python start, imports, MLflow
logging and the sweep's report included) in a subprocess, beside the import floor and the sweep's
bound (`src.bench_bound`: its compute, metrics and arrays alone); a 60-job grid's (with its time
per job after the first), a counterexample search's, a user's SignSGD swept over 64 step sizes
under the batched launcher against one such job alone (`src.bench_batched`), and where one job's
time goes with the numba kernels' first compile (`src.bench_job`). Prints Markdown tables; ratios
are against the plain loop. `--only PART ...` runs some of them. No assertion: numbers, not tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from mlflow import MlflowClient

from src import PROJECT_ROOT
from src.engines.fast import run_fast, variant
from src.engines.spec import RunSpec
from src.engines.torch_loop import run as run_torch
from src.problems.functions import Bernoulli, OnlineFunction, Periodic
from src.problems.projections import Box

LR, BETAS = 0.001, (0.9, 0.99)
SWEEP = "4 × 6,000,000 steps, process start to exit, MLflow and the sweep's report included"


def make_adam(params: list[torch.Tensor]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=LR, betas=BETAS, amsgrad=True)


def online_loss(x: torch.Tensor, t: int) -> torch.Tensor:
    return 1010 * x if t % 101 == 1 else -10 * x


def plain_loop(steps: int) -> float:
    """The loop one writes by hand: autograd, torch.optim, clamp. Returns seconds."""
    x = torch.zeros(1, requires_grad=True)
    optimizer = make_adam([x])
    began = time.perf_counter()
    for t in range(1, steps + 1):
        optimizer.zero_grad()
        online_loss(x, t).sum().backward()
        optimizer.step()
        with torch.no_grad():
            x.clamp_(-1, 1)
    return time.perf_counter() - began


def torchbearer_loop(steps: int) -> float | None:
    """The seed tutorial's Trial loop (its model, loss, clamp callback). None if not installed."""
    try:
        import torchbearer as tb
    except ImportError:
        return None

    class Online(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.x = torch.nn.Parameter(torch.zeros(1))

        def forward(self, _, state=None):  # noqa: ANN001
            return 1010 * self.x if state[tb.BATCH] % 101 == 1 else -10 * self.x

    @tb.callbacks.on_step_training
    def greedy_update(state) -> None:  # noqa: ANN001
        if state[tb.MODEL].x > 1:
            state[tb.MODEL].x.data.fill_(1)
        elif state[tb.MODEL].x < -1:
            state[tb.MODEL].x.data.fill_(-1)

    model = Online()
    trial = tb.Trial(
        model,
        make_adam(list(model.parameters())),
        lambda y_pred, _: y_pred,
        [],
        callbacks=[greedy_update],
        verbose=0,
    )  # 0.5 passes `state` by signature
    began = time.perf_counter()
    trial.for_train_steps(steps).run()
    return time.perf_counter() - began


def spec(steps: int, replicates: int = 1, fn: OnlineFunction | None = None) -> RunSpec:
    """Figure 1's online problem (or `fn`) on F = [−1, 1], 1,000 points logged."""
    fn = Periodic() if fn is None else fn
    return RunSpec(fn, Box(), steps=steps, replicates=replicates, log_points=1000)


def fast_variant():  # noqa: ANN201
    """The fast engine's AMSGrad (torch.optim.Adam, amsgrad=True) at the bench's lr and betas."""
    return variant(make_adam([torch.zeros(1, requires_grad=True)]))


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def default_sweep_seconds(*overrides: str, rounds: int = 1) -> float:
    """Wall time of `python -m src.main -m` (the paper's four 6M-step jobs, or what `overrides`
    ask), its numba kernels loaded from the cache (`warm_kernels`), into a store that exists (a
    user's `mlflow.db` after the first sweep: a new store adds MLflow's migrations, ~2.5 s once);
    the fastest of `rounds`."""
    warm_kernels()
    with tempfile.TemporaryDirectory() as folder:

        def sweep() -> float:
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "src.main", "-m", f"hydra.sweep.dir={folder}/m",
                 f"tracking.uri=sqlite:///{folder}/mlflow.db", *overrides],
                cwd=PROJECT_ROOT, check=True, capture_output=True, env={**os.environ, "CI": "1"},
            )  # fmt: skip
            return time.perf_counter() - began

        MlflowClient(f"sqlite:///{folder}/mlflow.db").search_experiments()  # the store, migrated
        return min(sweep() for _ in range(rounds))


def import_floor_seconds(rounds: int = 1) -> float:
    """Wall time of `python -c "import torch, mlflow"` (start, imports, exit): the floor of any
    command of the project; the fastest of `rounds`."""

    def floor() -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, mlflow"], check=True)
        return time.perf_counter() - began

    return min(floor() for _ in range(rounds))


def sweep_against_floor(rounds: int = 3) -> tuple[float, float, float]:
    """(default sweep, its bound, import floor), each the fastest of `rounds`, run alternately so
    that all three see the same load."""
    sweeps, bounds, floors = [], [], []
    for _ in range(rounds):
        floors.append(import_floor_seconds())
        bounds.append(bound_seconds())
        sweeps.append(default_sweep_seconds())
    return min(sweeps), min(bounds), min(floors)


def bound_seconds() -> float:
    """Wall time of `python -m src.bench_bound` (the default sweep's four jobs' compute, metrics
    and arrays, nothing else) into a store that exists, its kernels warm, as the sweep's."""
    warm_kernels()
    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{folder}/mlflow.db"
        MlflowClient(uri).search_experiments()  # the store, migrated
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "src.bench_bound", uri],
            cwd=PROJECT_ROOT, check=True, capture_output=True,
        )  # fmt: skip
        return time.perf_counter() - began


def warm_kernels() -> None:
    """The default sweep's four kernels into the project's numba cache, in a subprocess: a
    timed sweep loads them, as every sweep after a machine's first does (the first compile is
    timed on its own, in the `job` part)."""
    from src.bench_job import KERNELS  # noqa: PLC0415

    subprocess.run(
        [sys.executable, "-c", KERNELS], cwd=PROJECT_ROOT, check=True, capture_output=True
    )


def grid_seconds_per_job(*overrides: str) -> tuple[float, float, int]:
    """`+experiment=beta_grid steps=100000` (60 jobs, or what `overrides` ask) in a subprocess
    into a temp store: (wall seconds, seconds a job after the first, jobs). The latter from the
    child runs' end times in the store: (last end − first end) / (jobs − 1), so the process's
    imports and the store's opening, paid once, are left out."""
    warm_kernels()  # Adam's: the grid's optimizer
    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{folder}/mlflow.db"
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "src.main", "-m", f"hydra.sweep.dir={folder}/m",
             f"tracking.uri={uri}", "+experiment=beta_grid", "steps=100000", *overrides],
            cwd=PROJECT_ROOT, check=True, capture_output=True, env={**os.environ, "CI": "1"},
        )  # fmt: skip
        wall = time.perf_counter() - began
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("beta_grid").experiment_id  # its preset's
        runs = client.search_runs([experiment], max_results=1000)
        ends = sorted(r.info.end_time for r in runs if r.data.tags.get("role") != "sweep")
        return wall, (ends[-1] - ends[0]) / 1000 / max(len(ends) - 1, 1), len(ends)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=20_000, help="steps of the slow loops")
    parser.add_argument("--long", type=int, default=6_000_000, help="steps of the fast engine")
    parser.add_argument("--no-sweep", action="store_true", help="skip the default-sweep timing")
    parser.add_argument("--search-trials", type=int, default=20, help="trials of the timed search")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="the parts to run (default: all): " + "; ".join(f"{k}: {v}" for k, v in PARTS.items()),
    )
    args = parser.parse_args()
    parts = [
        p for p in args.only if not (args.no_sweep and p in ("sweep", "grid", "batched", "search"))
    ]
    print(f"Machine: {machine()}\n")
    plain_step = None  # seconds a step of the plain loop, once timed
    if "engines" in parts:
        plain_step = print_engines(args.short, args.long, "sweep" in parts)
    if "sweep" in parts:
        sweep, bound, floor = sweep_against_floor()
        print(
            f"Default sweep ({SWEEP}, into an existing store): {sweep:.1f} s wall; "
            f'`python -c "import torch, mlflow"` beside it: {floor:.1f} s; '
            f"ratio {sweep / floor:.2f}. Its bound (`src.bench_bound`: the four jobs' compute, "
            f"metrics and arrays alone, in one process): {bound:.1f} s, ratio {bound / floor:.2f}. "
            "The fastest of 3 alternating rounds each."
        )
    if "grid" in parts:
        wall, per_job, jobs = grid_seconds_per_job()
        print(
            f"Grid (+experiment=beta_grid, {jobs} jobs × 100,000 steps, MLflow and its report "
            f"included): {wall:.1f} s wall, {per_job:.2f} s a job after the first."
        )
    if "search" in parts:
        print_search(args.search_trials)
    if "batched" in parts:
        from src.bench_batched import print_batched  # noqa: PLC0415

        print_batched()
    if "job" in parts:
        from src.bench_job import breakdown, table  # noqa: PLC0415

        rows = breakdown()
        print("\nOne job (6,000,000 AMSGrad steps, fast engine, fresh store): where its time goes")
        print(table(rows))
        if plain_step is not None:
            wall = rows[0][1]
            print(
                f"\nOne job, process start to exit: {wall:.1f} s; the plain loop would take "
                f"{6e6 * plain_step:,.0f} s ({6e6 * plain_step / wall:,.0f}× longer)."
            )
    np.set_printoptions()


PARTS = {
    "engines": "the loops side by side (and the default sweep with it)",
    "sweep": "the default sweep's wall time",
    "grid": "a 60-job grid's wall time and time per job after the first",
    "batched": "64 jobs of a user's SignSGD as one computation against one alone",
    "search": "the counterexample search's wall time",
    "job": "one job's breakdown and the numba kernels' first compile (src.bench_job)",
}


def print_engines(short: int, long: int, sweep: bool) -> float:
    """The loops' table; with `sweep`, the default sweep against the slowest loop extrapolated.
    Returns the plain loop's seconds a step."""
    torch.set_num_threads(1)
    run_fast(spec(1000), fast_variant())  # load (or compile) the kernel once, outside timings
    rows: list[tuple[str, int, int, float | None]] = [
        ("seed tutorial: torchbearer Trial", short, 1, torchbearer_loop(short)),
        ("plain autograd + torch.optim loop", short, 1, plain_loop(short)),
        (
            "reference engine (torch.optim, closed-form grad)",
            short,
            1,
            timed(lambda: run_torch(spec(short), make_adam)),
        ),
        (
            "reference engine, autograd=true",
            short,
            1,
            timed(lambda: run_torch(spec(short), make_adam, autograd=True)),
        ),
        (
            "fast engine, R = 1",
            long,
            1,
            timed(lambda: run_fast(spec(long), fast_variant())),
        ),
        (
            "fast engine, R = 100",
            long // 6,
            100,
            timed(lambda: run_fast(spec(long // 6, 100), fast_variant())),
        ),
        (
            "fast engine, R = 1, stochastic",
            long,
            1,
            timed(lambda: run_fast(spec(long, 1, Bernoulli()), fast_variant())),
        ),
        (
            "fast engine, R = 100, stochastic",
            long // 6,
            100,
            timed(lambda: run_fast(spec(long // 6, 100, Bernoulli()), fast_variant())),
        ),
    ]
    plain = short / rows[1][3]
    print("| loop | steps timed | steps/s | replicate-steps/s | × plain loop | 6M steps take |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, steps, replicates, seconds in rows:
        if seconds is None:
            print(f"| {name} | — | not installed | | | |")
            continue
        rate = steps / seconds
        print(
            f"| {name} | {steps:,} | {rate:,.0f} | {rate * replicates:,.0f} | "
            f"{rate * replicates / plain:,.1f} | {6e6 / rate:,.2f} s |"
        )
    if sweep:
        wall = default_sweep_seconds()
        tutorial = rows[0][3] or rows[1][3]
        per_step = tutorial / short
        print(
            f"\nDefault sweep ({SWEEP}): {wall:.1f} s wall; "
            f"the {'tutorial' if rows[0][3] else 'plain'} loop would take "
            f"{4 * 6e6 * per_step / 60:,.0f} min ({4 * 6e6 * per_step / wall:,.0f}× longer)."
        )
    return rows[1][3] / short


def print_search(trials: int) -> None:
    """Wall time of `+search=break_adam` cut to `trials` trials (each 2 runs of 10⁶ steps)."""
    wall = default_sweep_seconds("+search=break_adam", f"hydra.sweeper.n_trials={trials}")
    print(
        f"Counterexample search (+search=break_adam, {trials} trials × 2 runs × 1,000,000 steps, "
        f"MLflow included): {wall:.1f} s wall, {wall / trials:.2f} s a trial."
    )


if __name__ == "__main__":
    main()
