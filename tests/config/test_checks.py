"""Bad input: the schema rejects wrong types at compose time; `src.config.checks` rejects values out
of range with one line naming the key, the value and what is allowed, before any compute and before
anything reaches the store (in process through the compose API; in real processes:
tests/config/test_refusals.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src import PROJECT_ROOT
from src.build import build_spec, check, optimizer_factory, run_engine
from src.config.checks import ConfigError, validate
from tests.conftest import make_cfg, options

SMALL = ("steps=40", "log.points=8")  # a job that runs in milliseconds


def error_of(*overrides: str) -> str:
    """check()'s message for the config composed with `overrides` (which must be invalid)."""
    with pytest.raises(ConfigError) as caught:
        check(make_cfg(*overrides))
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------------------------ schema


@pytest.mark.parametrize(
    "override, key",
    [
        ("steps=abc", "steps"),
        ("seed=1.5", "seed"),
        ("replicates=many", "replicates"),
        ("x0=left", "x0"),
        ("autograd=maybe", "autograd"),
        ("log.points=all", "log.points"),
        ("optim.lr=fast", "optim.lr"),
        ("optim._partial_=sometimes", "optim._partial_"),
    ],
)
def test_schema_rejects_wrong_types_at_compose_time(override: str, key: str) -> None:
    with pytest.raises(ConfigCompositionException) as caught:
        make_cfg(override)
    cause = f"{caught.value} {caught.value.__cause__}"
    assert override in cause and f"full_key: {key}" in cause


def test_schema_rejects_unknown_keys_in_config_files(tmp_path: Path) -> None:
    """A YAML file with a key the schema lacks fails at compose time (here a typo'd `stepz`)."""
    (tmp_path / "typo.yaml").write_text("defaults:\n  - base_config\n  - _self_\nstepz: 5\n")
    with initialize_config_dir(version_base="1.3", config_dir=str(tmp_path)):
        with pytest.raises(ConfigCompositionException) as caught:
            compose("typo")
    assert "stepz" in f"{caught.value} {caught.value.__cause__}"


def test_unknown_keys_forced_in_with_plus_are_caught_by_validation() -> None:
    """Hydra force-adds `+key=value` past a schema; validation names the key and the known ones."""
    message = error_of("+stepz=5")
    assert message.startswith("stepz=5: unknown key") and "steps" in message
    assert error_of("+log.every=10").startswith("log.every=10: unknown key")
    assert error_of("+optim.momentum=0.9").startswith(
        "optim.momentum=0.9: not an argument of torch.optim.Adam"
    )


@pytest.mark.parametrize("group", ["optim", "fn", "projection", "schedule"])
def test_every_shipped_option_composes_and_validates(group: str) -> None:
    """The schema is open enough for every config file in conf/ (whoever added it)."""
    for name in options(group):
        validate(make_cfg(f"{group}={name}", *SMALL))


def test_optim_takes_any_torch_optimizer_and_its_keyword_arguments() -> None:
    """The optim node types `lr` and stays open: `_target_=torch.optim.SGD +optim.momentum=...`."""
    cfg = make_cfg(
        "optim._target_=torch.optim.SGD",
        "~optim.betas",
        "~optim.eps",
        "~optim.amsgrad",
        "+optim.momentum=0.9",
        "+optim.nesterov=true",
        *SMALL,
    )
    validate(cfg)
    optimizer = optimizer_factory(cfg)([torch.zeros(1, requires_grad=True)])
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["momentum"] == 0.9 and optimizer.defaults["nesterov"] is True
    validate(make_cfg("optim._target_=torch.optim.AdamW", "+optim.weight_decay=0.01", *SMALL))


# ------------------------------------------------------------------------------ values

RADIUS_0 = (
    "projection._target_=src.problems.projections.Ball",
    "~projection.low",
    "~projection.high",
    "+projection.radius=0",
)

INVALID = [  # (overrides, the start of the one-line message)
    (("steps=0",), "steps=0: must be an integer >= 1"),
    (("replicates=0",), "replicates=0: must be an integer >= 1"),
    (("seed=-1",), "seed=-1: must be an integer >= 0"),
    (("optim.lr=0",), "optim.lr=0.0: must be a number > 0"),
    (("optim.lr=-0.1",), "optim.lr=-0.1: must be a number > 0"),
    (("optim.betas=[0.9,1.0]",), "optim.betas[1]=1.0: must be a number in [0, 1)"),
    (("optim.betas=[-0.1,0.99]",), "optim.betas[0]=-0.1: must be a number in [0, 1)"),
    (("optim.eps=-1e-8",), "optim.eps=-1e-08: must be a number >= 0"),
    (("fn=stochastic", "fn.p=1.5"), "fn.p=1.5: must be a number in [0, 1]"),
    (("fn=stochastic", "fn.p=-0.01"), "fn.p=-0.01: must be a number in [0, 1]"),
    (("fn.period=0",), "fn.period=0: must be an integer >= 1"),
    (("fn.period=2.5",), "fn.period=2.5: must be an integer"),
    (
        ("projection.low=1", "projection.high=-1"),
        "projection.low=1, projection.high=-1: need numbers with low < high",
    ),
    (RADIUS_0, "projection.radius=0: must be a number > 0"),
    (("log.points=1",), "log.points=1: must be an integer >= 2"),
    (("steps=100", "log.points=101"), "log.points=101: must be <= steps=100"),
    (("dtype=float16",), "dtype='float16': must be one of float32, float64"),
    (("engine=gpu",), "engine='gpu': must be one of auto, torch, fast"),
    (("engine=fast", "autograd=true"), "engine=fast: autograd=true asks for the torch engine"),
    (("schedule.name=cosine",), "schedule.name='cosine': must be one of constant"),
    (("optim._target_=torch.optim.Adamm",), "optim._target_='torch.optim.Adamm': cannot import"),
    (("optim._target_=torch.nn.Linear",), "optim._target_='torch.nn.Linear': must name a torch"),
    (("fn._target_=os.system",), "fn._target_='os.system': must name an src.problems.functions"),
]


@pytest.mark.parametrize("overrides, expected", INVALID, ids=[" ".join(o) for o, _ in INVALID])
def test_invalid_value_is_one_line_naming_key_value_and_allowed(overrides, expected) -> None:
    assert error_of(*SMALL, *overrides).startswith(expected)


def test_engine_fast_on_an_unsupported_optimizer_says_why() -> None:
    from src.engines import fast as fast_engine  # noqa: PLC0415

    for target in ("torch.optim.Rprop", "torch.optim.ASGD", "torch.optim.LBFGS"):
        cfg = make_cfg(
            *SMALL,
            "engine=fast",
            f"optim._target_={target}",
            "~optim.betas",
            "~optim.eps",
            "~optim.amsgrad",
        )
        why = fast_engine.unsupported(build_spec(cfg), optimizer_factory(cfg))
        if why is not None:
            break
    else:
        pytest.skip("the fast engine now implements every candidate")
    with pytest.raises(ConfigError) as caught:
        check(cfg)
    assert str(caught.value) == f"engine=fast: {why} (use engine=torch or engine=auto)"


def test_validate_is_a_plain_function_on_any_dictconfig() -> None:
    from omegaconf import OmegaConf  # noqa: PLC0415

    cfg = OmegaConf.create(OmegaConf.to_container(make_cfg(*SMALL), resolve=True))
    validate(cfg)  # no schema, no Hydra: still checked
    cfg.steps = -5
    with pytest.raises(ConfigError, match=r"^steps=-5: must be an integer >= 1$"):
        validate(cfg)


# ------------------------------------------------------------------------------ property


@st.composite
def in_range(draw: st.DrawFn) -> list[str]:
    """Overrides with every value inside its allowed range."""
    steps = draw(st.integers(2, 60))
    low = draw(st.floats(-5.0, 4.0))
    high = low + draw(st.floats(0.01, 5.0))
    fn = draw(st.sampled_from(["online", "stochastic"]))
    fn_value = (
        f"fn.period={draw(st.integers(1, 200))}"
        if fn == "online"
        else f"fn.p={draw(st.floats(0.0, 1.0))!r}"
    )
    return [
        f"steps={steps}",
        f"log.points={draw(st.integers(2, steps))}",
        f"replicates={draw(st.integers(1, 3))}",
        f"seed={draw(st.integers(0, 2**31))}",
        f"optim={draw(st.sampled_from(['adam', 'amsgrad']))}",
        f"optim.lr={draw(st.floats(1e-5, 1.0))!r}",
        f"optim.betas=[{draw(st.floats(0.0, 0.999))!r},{draw(st.floats(0.0, 0.9999))!r}]",
        f"optim.eps={draw(st.floats(0.0, 1e-3))!r}",
        f"fn={fn}",
        fn_value,
        f"projection.low={low!r}",
        f"projection.high={high!r}",
        f"x0={draw(st.floats(low, high))!r}",  # x_1 in F
        f"dtype={draw(st.sampled_from(['float32', 'float64']))}",
        f"engine={draw(st.sampled_from(['auto', 'torch', 'fast']))}",
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_range())
def test_values_in_range_validate_and_run(overrides: list[str]) -> None:
    cfg = make_cfg(*overrides)
    validate(cfg)
    spec = build_spec(cfg)
    _, result = run_engine(cfg, spec, None)
    assert result.steps_done == spec.steps and np.all(np.isfinite(result.x))


OUT_OF_RANGE = st.one_of(
    st.integers(-(10**6), 0).map(lambda v: ("steps", f"steps={v}")),
    st.integers(-100, 0).map(lambda v: ("replicates", f"replicates={v}")),
    st.floats(max_value=0.0, allow_nan=False).map(lambda v: ("optim.lr", f"optim.lr={v!r}")),
    st.one_of(st.floats(1.0, 1e6), st.floats(-1e6, -1e-9)).map(
        lambda v: ("optim.betas", f"optim.betas=[{v!r},0.99]")
    ),
    st.floats(-1e3, -1e-12).map(lambda v: ("optim.eps", f"optim.eps={v!r}")),
    st.one_of(st.floats(1.0, 1e3, exclude_min=True), st.floats(-1e3, 0.0, exclude_max=True)).map(
        lambda v: ("fn.p", f"fn.p={v!r}")
    ),
    st.integers(-1000, 0).map(lambda v: ("fn.period", f"fn.period={v}")),
    st.tuples(st.floats(-1e3, 1e3), st.floats(0.0, 1e3)).map(
        lambda t: ("projection.low", f"projection.low={t[0]!r} projection.high={t[0] - t[1]!r}")
    ),
    st.integers(-5, 1).map(lambda v: ("log.points", f"log.points={v}")),
    st.integers(41, 10**6).map(lambda v: ("log.points", f"log.points={v}")),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
    .filter(lambda s: s not in ("float32", "float64", "null"))  # null: the schema's, at
    .map(lambda v: ("dtype", f"dtype={v}")),  # composition (test_a_value_the_schema_cannot_take)
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
    .filter(lambda s: s not in ("auto", "torch", "fast", "null"))
    .map(lambda v: ("engine", f"engine={v}")),
)


@settings(max_examples=25, deadline=None)
@given(OUT_OF_RANGE)
def test_values_out_of_range_give_the_one_line_error(case: tuple[str, str]) -> None:
    key, override = case
    extra = ["fn=stochastic"] if key == "fn.p" else []
    message = error_of("steps=40", "log.points=8", *extra, *override.split())
    assert message.startswith(key), message


# ------------------------------------------------------------------------------ processes


def test_shipped_targets_point_only_at_torch_optim_and_the_project() -> None:
    def targets(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [str(node["_target_"])] if "_target_" in node else []
            return found + [t for value in node.values() for t in targets(value)]
        if isinstance(node, list):
            return [t for value in node for t in targets(value)]
        return []

    files = sorted((PROJECT_ROOT / "conf").rglob("*.yaml"))
    assert files
    for path in files:
        for target in targets(yaml.safe_load(path.read_text())):
            assert target.startswith(("torch.optim.", "src.")), f"{path}: _target_ {target}"


# ------------------------------------------------------------------------------ code in config


@pytest.mark.parametrize(
    "override, key",
    [
        ("optim.amsgrad={_target_:shutil.copy,src:a,dst:b}", "optim.amsgrad._target_"),
        ("+optim.extra={deep:{_target_:os.getcwd}}", "optim.extra.deep._target_"),
        ("+fn.deep={_target_:os.getcwd}", "fn.deep._target_"),
        ("+projection.deep=[{_target_:os.getcwd}]", "projection.deep[0]._target_"),
    ],
)
def test_a_nested_target_is_refused_at_any_depth(override: str, key: str) -> None:
    message = error_of(override, *SMALL)
    assert message.startswith(f"{key}=") and "only a group's own _target_" in message, message


@pytest.mark.parametrize("value", ["no", "yes", "1", "0", "'false'"])
def test_bool_options_must_be_bools(value: str) -> None:
    message = error_of(f"optim.amsgrad={value}", *SMALL)
    assert message.startswith("optim.amsgrad=") and "must be true or false" in message, message


def test_the_job_instantiates_only_a_groups_own_target(tmp_path: Path) -> None:
    """Past the checks (called directly), building the optimizer still calls nothing nested."""
    source, target = tmp_path / "secret.txt", tmp_path / "copied.txt"
    source.write_text("secret")
    cfg = make_cfg(f"optim.amsgrad={{_target_:shutil.copy,src:'{source}',dst:'{target}'}}")
    factory = optimizer_factory(cfg)
    assert not target.exists() and factory.keywords["amsgrad"]["_target_"] == "shutil.copy"


# ------------------------------------------------------------------------------ engine limits


@pytest.mark.parametrize(
    "overrides, start",
    [
        (("fn.C=inf",), "fn.C=inf: must be a finite number"),
        (("fn.C=1.1e299",), "fn: its gradient reaches"),
        (("fn.scale=1e38", "fn.C=101"), "fn: its gradient reaches"),
        (("fn=noisy_quadratic", "fn.curvature=1e37", "fn.noise=10"), "fn: its gradient reaches"),
        (("fn.period=9223372036854775808",), "fn.period=9223372036854775808: must be an integer"),
        (("steps=9223372036854775808",), "steps=9223372036854775808: must be an integer"),
        (
            ("optim._target_=torch.optim.LBFGS", "~optim.betas", "~optim.eps", "~optim.amsgrad"),
            "optim._target_='torch.optim.LBFGS': needs a closure",
        ),
        (
            ("optim._target_=torch.optim.SparseAdam", "~optim.amsgrad"),
            "optim._target_='torch.optim.SparseAdam': needs sparse gradients",
        ),
        (("x0=2",), "x0=2.0: must be in F = [-1, 1]"),
        (("x0=-1.5", "projection=none"), "x0=-1.5: must be in F = [-1, 1]"),
        (("x0=3", "projection=ball", "projection.radius=2"), "x0=3.0: must be in F = [-2, 2]"),
        (("replicates=10000000",), "replicates=10000000: needs about"),
        # issue 27: a d-dim problem's memory grows with d (this one was OOM-killed at 23.7 GB)
        (
            ("fn=periodic_nd", "fn.dim=10000000", "fn.C=101", "fn.period=101"),
            "fn.dim=10000000 × replicates=1: needs about",
        ),
        (("tracking.experiment=" + "a" * 100_000,), "tracking.experiment='aaaaaaaa"),
    ],
)
def test_values_the_engines_cannot_take_are_refused(overrides: tuple, start: str) -> None:
    message = error_of(*SMALL, *overrides)
    assert message.startswith(start), message


def test_valid_edges_still_pass() -> None:
    validate(make_cfg("x0=1", *SMALL))
    validate(make_cfg("x0=-1", "projection=none", "dtype=float64", "fn.C=1e300", *SMALL))
    validate(make_cfg("replicates=64", *SMALL))
    validate(make_cfg("fn=periodic_nd", "fn.dim=1000", "fn.C=101", "fn.period=101", *SMALL))
    validate(make_cfg("tracking.experiment=" + "a" * 500, *SMALL))
