"""Where one job's wall time goes, process start to exit: `make bench` prints it.

A 6,000,000-step AMSGrad job on the online problem, on the fast engine, into a fresh SQLite store:
- in a fresh process with `python -X importtime -m src.main ...`: the whole wall time, and the
  imports (the top-level modules' cumulative import times that the interpreter reports);
- the stages inside the job (`src.job.run_job`'s `result.info["seconds"]`): check and build, the
  store (open, run, params), compute (the engine), the logging (histories, metrics, artifacts) and
  the figure (drawn and stored) — for the first job of a process (it pays the store's opening, the
  compiled kernels' cache load and matplotlib's import) and for a later one, as a sweep's second
  job pays them;
- the numba kernels' first compile: the default sweep's four jobs (1,000 steps each) in a fresh
  process whose numba cache (`NUMBA_CACHE_DIR`) is an empty folder, against the same with the
  project's warm cache (only the first run on a machine compiles).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from src import PROJECT_ROOT

JOB = ("optim=amsgrad", "fn=online", "steps=6000000", "engine=fast")
KERNELS = """
import time
from hydra import compose, initialize_config_dir
from src import PROJECT_ROOT
from src.build import build_spec, optimizer_factory
from src.config.registration import register
from src.engines import fast
register()
with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
    cfgs = [compose("config", [f"optim={o}", f"fn={f}", "steps=1000", "engine=fast"])
            for o in ("adam", "amsgrad") for f in ("online", "stochastic")]
began = time.perf_counter()
for cfg in cfgs:
    fast.run(build_spec(cfg), optimizer_factory(cfg), "constant")
print(time.perf_counter() - began)
"""


def process_seconds(folder: Path) -> tuple[float, float]:
    """(wall seconds, import seconds) of one job in a fresh process."""
    args = [*JOB, f"tracking.uri=sqlite:///{folder}/mlflow.db", f"hydra.run.dir={folder}/out"]
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "src.main", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - began
    imports = 0
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            fields = line.split("|")
            name = fields[2]
            if fields[1].strip().isdigit() and not name.startswith("  "):  # a top-level import
                imports += int(fields[1])
    return wall, imports / 1e6


def stage_seconds(folder: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The stages of the first job run in this process and of a second one."""
    from hydra import compose, initialize_config_dir  # noqa: PLC0415

    from src.config.registration import register  # noqa: PLC0415
    from src.job import run_job  # noqa: PLC0415

    register()
    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
        cfg = compose("config", [*JOB, f"tracking.uri=sqlite:///{folder}/stages.db"])
    first = dict(run_job(cfg).info["seconds"])  # pays the kernels' cache load and the store
    return first, dict(run_job(cfg).info["seconds"])


def kernel_seconds(cold: bool) -> float:
    """Seconds for the default sweep's four kernels (1,000 steps each) in a fresh process, imports
    left out: compiled from nothing (`cold`: an empty NUMBA_CACHE_DIR) or loaded from the cache."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as empty:
        if cold:
            env["NUMBA_CACHE_DIR"] = empty
        proc = subprocess.run(
            [sys.executable, "-c", KERNELS],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    return float(proc.stdout.split()[-1])


def breakdown() -> list[tuple[str, float, float | None]]:
    """(stage, seconds, seconds in a later job or None) rows: the fresh process, a job's stages
    inside a process (first job, later job), the kernels' first compile and cache load."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, imports = process_seconds(Path(tmp))
        first, later = stage_seconds(Path(tmp))
    rows: list[tuple[str, float, float | None]] = [
        ("fresh process, start to exit", wall, None),
        ("  of which imports", imports, None),
    ]
    rows += [(f"job stage: {name}", seconds, later.get(name)) for name, seconds in first.items()]
    rows += [
        ("numba kernels: first compile (4)", kernel_seconds(cold=True), None),
        ("numba kernels: cache load (4)", kernel_seconds(cold=False), None),
    ]
    return rows


def table(rows: list[tuple[str, float, float | None]] | None = None) -> str:
    """The breakdown (`rows`, else measured now) as a Markdown table."""
    lines = ["| stage | first job in a process | a later job |", "| --- | ---: | ---: |"]
    for name, seconds, later in rows or breakdown():
        shown = "" if later is None else f"{later:.3f} s"
        lines.append(f"| {name.strip()} | {seconds:.3f} s | {shown} |")
    return "\n".join(lines)


def main() -> None:
    print(table())


if __name__ == "__main__":
    main()
