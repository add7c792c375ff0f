"""Building an optimizer for a fast-engine job does not pay for torch._dynamo's import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from src import PROJECT_ROOT

PROBE = """
import sys, torch
import src.optimizers
from src.optimizers import AMSGradPaper
for cls in (torch.optim.Adam, torch.optim.SGD, torch.optim.RAdam, AMSGradPaper):
    cls([torch.zeros(2, requires_grad=True)], lr=0.1)
print("torch._dynamo" in sys.modules)
"""


@pytest.mark.slow
def test_building_optimizers_does_not_import_dynamo() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.slow
def test_a_job_on_the_fast_engine_does_not_import_dynamo(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "src.main", "steps=100", "log.points=2"]
        + [f"tracking.uri=sqlite:///{tmp_path}/m.db", f"hydra.run.dir={tmp_path}/out"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert "src.engines.fast" in imported and "torch._dynamo" not in imported
