"""`make bench`'s batched row: a user's SignSGD (docs/extending.md) swept over 64 step sizes at
200,000 steps each, under `hydra/launcher=batched`, against one such job alone and against the
basic launcher's job-by-job time; each a `python -m src.main` subprocess from start to exit
(MLflow logging included), in one process, side by side. The batched jobs' finals are compared
with the lone run's. Numbers, not tests (tests/test_batched.py holds the equality to the bit).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient

from src import PROJECT_ROOT

JOBS, STEPS = 64, 200_000
LRS = [f"{10 ** (-4 + 3 * j / (JOBS - 1)):.6g}" for j in range(JOBS)]  # 1e-4 … 1e-1
QUIET = ("log.figures=false", "log.report=false", "optim=signsgd", "fn=online", f"steps={STEPS}")


def user_example(folder: Path) -> Path:
    """docs/extending.md's `# file:` blocks (signsgd.py, its YAML, …) written under `folder`."""
    text = (PROJECT_ROOT / "docs" / "extending.md").read_text()
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", text, flags=re.S):
        first, _, body = block.partition("\n")
        if first.startswith("# file: "):
            path = folder / first.removeprefix("# file: ").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
    return folder


def _main(folder: Path, name: str, *overrides: str) -> tuple[float, str]:
    """Wall seconds of `python -m src.main OVERRIDES` into its own store, and that store's URI."""
    uri = f"sqlite:///{folder / name}.db"
    MlflowClient(uri).search_experiments()  # migrated before the clock starts
    env = {**os.environ, "CI": "1", "BREAKING_ADAM_USER_DIR": str(folder / "mine")}
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "src.main", *overrides, *QUIET, f"tracking.uri={uri}",
         f"hydra.sweep.dir={folder / name}", f"hydra.run.dir={folder / name}"],
        cwd=PROJECT_ROOT, check=True, capture_output=True, env=env,
    )  # fmt: skip
    return time.perf_counter() - began, uri


def _finals(uri: str) -> dict[str, dict[str, float]]:
    """lr -> final metrics (speed aside) of every job run in the store `uri`."""
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return {
        r.data.params["optim.lr"]: {
            k: v for k, v in r.data.metrics.items() if k != "steps_per_second"
        }
        for r in runs
        if r.data.tags.get("role") != "sweep"
    }


def print_batched() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        user_example(folder / "mine")
        alone, alone_uri = _main(folder, "alone", f"optim.lr={LRS[0]}")
        two, _ = _main(folder, "basic", "-m", f"optim.lr={','.join(LRS[:2])}")
        batched, batched_uri = _main(
            folder, "batched", "-m", "hydra/launcher=batched", f"optim.lr={','.join(LRS)}"
        )
        lone = _finals(alone_uri)[str(float(LRS[0]))]
        together = _finals(batched_uri)
    one_by_one = two + (JOBS - 2) * (two - alone)  # the basic launcher's 2, extrapolated
    same = together.get(str(float(LRS[0]))) == lone
    print(
        f"\nA user's SignSGD over {JOBS} step sizes × {STEPS:,} steps (reference engine, process "
        "start to exit, MLflow included):\n\n"
        "| how | wall s | × one job alone |\n| --- | ---: | ---: |\n"
        f"| one job alone | {alone:.1f} | 1.00 |\n"
        f"| {JOBS} jobs, `hydra/launcher=batched` | {batched:.1f} | {batched / alone:.2f} |\n"
        f"| {JOBS} jobs one by one (basic launcher: 2 timed, extrapolated) | {one_by_one:.0f} "
        f"| {one_by_one / alone:.1f} |\n\n"
        f"Batched jobs: {len(together)}; the lr={LRS[0]} job's finals "
        f"{'equal' if same else 'DIFFER from'} the lone run's."
    )
