"""`python -m src.main --help` is the project's own: what it does, the groups, the presets."""

from __future__ import annotations

import pytest

from tests.conftest import run_main


@pytest.mark.slow
def test_help_says_what_the_project_does_its_groups_and_presets() -> None:
    out = run_main("--help").stdout
    assert out.startswith("Breaking Adam: one job = one optimizer")
    assert (
        "optim: adabound" in out
        and "amsgrad_paper" in out
        and "projection: ball, ball_weighted, box, none" in out
    )
    assert "+experiment=NAME" in out and "theorem1" in out
    assert "Powered by Hydra" not in out
