"""Where one job's wall time goes, process start to exit: `make bench` prints it.

A 6,000,000-step AMSGrad job on the online problem, on the fast engine, into a fresh SQLite store:
- in a fresh process with `python -X importtime -m src.main ...`: the whole wall time, and the
  imports (the top-level modules' cumulative import times that the interpreter reports);
- the stages inside the job (`src.job.run_job`'s `result.info["seconds"]`): check and build, the
  store (open, run, params), compute (the engine, the compiled kernel's cache load included), the
  logging (histories, metrics, artifacts, figure) — timed in this process after a first job, so
  as a second job of a sweep pays them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from src import PROJECT_ROOT

JOB = ("optim=amsgrad", "fn=online", "steps=6000000", "engine=fast")


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


def stage_seconds(folder: Path) -> dict[str, float]:
    """The stages of a job run in this process (after one job, as a sweep's second job)."""
    from hydra import compose, initialize_config_dir  # noqa: PLC0415

    from src.job import run_job  # noqa: PLC0415

    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
        cfg = compose("config", [*JOB, f"tracking.uri=sqlite:///{folder}/stages.db"])
    run_job(cfg)  # the first pays the compile or cache load and the store's schema
    return dict(run_job(cfg).info["seconds"])


def breakdown() -> list[tuple[str, float]]:
    """(stage, seconds) rows: the fresh process, then a job's stages inside a warm process."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, imports = process_seconds(Path(tmp))
        stages = stage_seconds(Path(tmp))
    rows = [("fresh process, start to exit", wall), ("  of which imports", imports)]
    rows += [(f"  job stage: {name}", seconds) for name, seconds in stages.items()]
    return rows


def main() -> None:
    for name, seconds in breakdown():
        print(f"{name:<34} {seconds:8.3f} s")


if __name__ == "__main__":
    main()
