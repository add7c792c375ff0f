"""One-line errors, before any compute, for the d-dimensional options and ball_weighted."""

from __future__ import annotations

import pytest

from src.build import check
from src.config.checks import ConfigError
from tests.conftest import make_cfg

CASES = [
    (["fn=periodic_nd", "fn.dim=1"], "fn.dim=1: must be an integer >= 2"),
    (["fn=periodic_nd", "fn.C=[1,2,3]"], "fn.C has 3 values for fn.dim=2"),
    (["fn=periodic_nd", "fn.period=[101,3,5]"], "fn.period has 3 values for fn.dim=2"),
    (["fn=periodic_nd", "fn.period=[2.5,3]"], "fn.period=[2.5, 3.0]: every period must be an"),
    (["fn=periodic_nd", "fn.period=[0,3]"], "fn.period=[0.0, 3.0]: every period must be an"),
    (["fn=periodic_nd", "fn.C=[a,b]"], "fn.C=['a', 'b']: must be a number or a list of 2"),
    (["fn=bernoulli_nd", "fn.p=[0.1,2]"], "fn.p=[0.1, 2.0]: every probability must be in [0, 1]"),
    (["fn=quadratic_nd", "fn.curvatures=[1,-1]"], "fn.curvatures=[1.0, -1.0]: must all be >= 0"),
    (["fn=quadratic_nd", "fn.dim=3"], "fn.curvatures has 2 values for fn.dim=3"),
    (["fn=periodic_nd", "autograd=true"], "autograd=true: fn VectorPeriodic is 2-dimensional"),
    (["fn=periodic_nd", "projection=ball", "x0=0.9"], "x0=0.9: x_1 = (x0, …, x0) has norm"),
    (
        ["fn=quadratic_nd", "projection=ball_weighted", "optim=sgd"],
        "optim._target_='torch.optim.SGD': projection=ball_weighted weights by",
    ),
    (
        ["projection=ball_weighted", "optim=adabound"],
        "projection=ball_weighted weights by the optimizer's second moment",
    ),
    (["fn=periodic_nd", "engine=fast"], "engine=fast: fn VectorPeriodic is 2-dimensional"),
    (["projection=ball_weighted", "engine=fast"], "engine=fast: projection=ball_weighted"),
]


@pytest.mark.parametrize(("overrides", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_one_line_error(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check(make_cfg(*overrides, "steps=10", "log.points=2"))
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "overrides",
    [
        ["fn=periodic_nd"],
        ["fn=bernoulli_nd", "projection=ball", "x0=0.5"],
        ["fn=quadratic_nd", "projection=ball_weighted", "optim=amsgrad"],
        ["fn=periodic_nd", "fn.dim=4", "fn.C=101", "fn.period=[101,3,5,7]", "projection=none"],
        ["fn=online", "projection=ball_weighted", "optim=amsgrad_paper"],
    ],
)
def test_valid_configs_pass(overrides: list[str]) -> None:
    check(make_cfg(*overrides, "steps=10", "log.points=2"))
