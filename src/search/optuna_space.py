"""What an Optuna search searches, read from Hydra's override syntax, checked before anything runs.

A key's value in `hydra.sweeper.params` (or on the command line) is one of

- a fixed value (`fn=periodic`, `steps=3000`): given to every trial;
- a plain list (`optim=adam,amsgrad`): one study per value (as Hydra's basic sweeper runs each);
- a distribution the sampler draws from:
  `interval(a, b)` a float in [a, b], `int(interval(a, b))` an integer in [a, b],
  `range(a, b, s)` the values of Hydra's range (b excluded), `choice(x, y)` a category;
  `tag(log, …)` samples an interval or an integer range in log scale.

`hydra.sweeper.conditional` adds keys drawn only for one value of another key, e.g. `fn.period`
only when `fn=periodic` (the atlas: one study over two problem families). A value given on the
command line replaces the preset's for that key.

Bad bounds (low ≥ high, a log scale with low ≤ 0, an empty range, an end a job would refuse) are a
`SearchSpaceError`: one line naming the key and the range as given; `check_search` (the sweep's
`check`, run before the parent run or the study exist) prints it and exits 2.
"""

import importlib.util
import itertools
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sqlalchemy.engine import make_url

SAMPLERS = ("tpe", "cmaes", "random", "gp")
UNNAMED_KEYS = ("tracking.", "hydra.")  # command-line keys that do not change what is searched


class SearchSpaceError(ValueError):
    """A search that cannot run (bad bounds, an unknown sampler): one line."""


def make_sampler(
    name: str, seed: int | None, options: Mapping[str, Any] | None = None
) -> optuna.samplers.BaseSampler:
    """A sampler by name (`tpe`, `cmaes`, `random`, `gp`) seeded with `seed`."""
    options = dict(options or {})
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed, **options)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise SearchSpaceError("hydra.sweeper.sampler.name='cmaes': needs `pip install cmaes`")
        return optuna.samplers.CmaEsSampler(seed=seed, **options)
    if name == "gp":
        if importlib.util.find_spec("scipy") is None or importlib.util.find_spec("torch") is None:
            raise SearchSpaceError("hydra.sweeper.sampler.name='gp': needs scipy and torch")
        return optuna.samplers.GPSampler(seed=seed, **options)
    raise SearchSpaceError(
        f"hydra.sweeper.sampler.name={name!r}: must be one of {', '.join(SAMPLERS)}"
    )


def _parse(key: str, text: str) -> Override:
    return OverridesParser.create().parse_overrides([f"{key}={text}"])[0]


def distribution(key: str, text: str) -> BaseDistribution | None:
    """The distribution `text` describes for `key`; None for a fixed value or a plain list."""
    override = _parse(key, text)
    value = override.value()
    log = "log" in getattr(value, "tags", set())

    def bad(why: str) -> SearchSpaceError:
        return SearchSpaceError(f"{key}={text}: {why}")

    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if not low < high:
            raise bad(f"empty range: low {low} is not below high {high}")
        if log and low <= 0:
            raise bad(f"a log scale needs low > 0 (got low {low})")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    if isinstance(value, RangeSweep):
        values = [float(v) for v in override.sweep_string_iterator()]
        if not values:
            raise bad("empty range: no value from start to stop")
        low, high, step = min(values), max(values), abs(value.step)
        if log and low <= 0:
            raise bad(f"a log scale needs low > 0 (got low {low:g})")
        if value.shuffle:
            return CategoricalDistribution([str(v) for v in override.sweep_string_iterator()])
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(int(low), int(high), log=log, step=1 if log else int(step))
        return FloatDistribution(low, high, log=log, step=None if log else float(step))
    if isinstance(value, ChoiceSweep) and not value.simple_form:
        choices = list(override.sweep_string_iterator())
        if not choices:
            raise bad("empty choice")
        return CategoricalDistribution(choices)
    return None


def grid_values(key: str, text: str) -> list[str] | None:
    """A plain list's values (one study each); None for anything else."""
    value = _parse(key, text).value()
    if isinstance(value, ChoiceSweep) and value.simple_form:
        return [str(v) for v in _parse(key, text).sweep_string_iterator()]
    return None


@dataclass
class Plan:
    """A search: fixed overrides, distributions, conditional distributions, and study axes."""

    fixed: dict[str, str] = field(default_factory=dict)  # key -> value, for every trial
    searched: dict[str, BaseDistribution] = field(default_factory=dict)
    conditional: dict[str, dict[str, dict[str, BaseDistribution]]] = field(default_factory=dict)
    grid: dict[str, list[str]] = field(default_factory=dict)  # one study per combination
    named: list[str] = field(default_factory=list)  # command-line overrides that name the study
    texts: dict[str, str] = field(default_factory=dict)  # a searched key's range, as given

    def studies(self) -> Iterator[dict[str, str]]:
        """One {key: value} per study (the plain lists' combinations)."""
        for values in itertools.product(*self.grid.values()):
            yield dict(zip(self.grid, values, strict=True))

    def keys(self) -> list[str]:
        """The searched keys (conditional ones after the others)."""
        extra = [k for by_value in self.conditional.values() for space in by_value.values()
                 for k in space]  # fmt: skip
        return list(dict.fromkeys([*self.searched, *extra]))


def plan(
    params: Mapping[str, Any],
    arguments: list[str],
    conditional: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> Plan:
    """The search of `params` (the preset's), `arguments` (the command line's task overrides, which
    win for a key given in both) and `conditional` ({key: {value: {key: range}}})."""
    entries: dict[str, str] = {str(k): str(v) for k, v in params.items()}
    named: list[str] = []
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        key = override.get_key_element()
        text = override.input_line.split("=", 1)[1] if "=" in override.input_line else ""
        entries.pop(key.lstrip("+~"), None)
        entries[key] = text if "=" in override.input_line else ""
        if not key.lstrip("+~").startswith(UNNAMED_KEYS) and not key.startswith("+search"):
            named.append(override.input_line)
    result = Plan(named=named)
    for key, text in entries.items():
        if key.startswith("~"):
            result.fixed[key] = ""
            continue
        found = distribution(key, text)
        grid = None if found is not None else grid_values(key, text)
        if found is not None:
            result.searched[key] = found
            result.texts[key] = text
        elif grid is not None:
            result.grid[key] = grid
        else:
            result.fixed[key] = text
    for parent, by_value in (conditional or {}).items():
        result.texts.update(
            {str(k): str(t) for space in by_value.values() for k, t in space.items()}
        )
        result.conditional[str(parent)] = {
            str(value): {
                str(k): _conditional(str(k), str(t), str(parent), str(value))
                for k, t in space.items()
            }
            for value, space in by_value.items()
        }
    return result


def _conditional(key: str, text: str, parent: str, value: str) -> BaseDistribution:
    found = distribution(key, text)
    if found is None:
        raise SearchSpaceError(
            f"hydra.sweeper.conditional.{parent}.{value}: {key}={text}: must be a range or choice"
        )
    return found


def override_text(value: Any) -> str:
    """A sampled value as Hydra override text (floats in full, so a trial is reproducible)."""
    return repr(float(value)) if isinstance(value, float) else str(value)


def study_name(preset: str, study: Mapping[str, str], found: Plan) -> str:
    """`break_adam · fn.C × fn.period × fn.scale`: the preset, the study's values of the plain
    lists, what it searches, and the command line's other overrides (a different problem is a
    different study)."""
    parts = [preset, *(f"{k}={v}" for k, v in study.items()), " × ".join(found.keys())]
    if found.named:
        parts.append(" ".join(o for o in found.named if o.split("=", 1)[0] not in found.grid))
    return " · ".join(p for p in parts if p)


def storage_url(setting: str | None, tracking_uri: str) -> str | None:
    """Where the study lives: `auto` beside the MLflow store (SQLite `<dir>/mlflow.db` →
    `<dir>/optuna.db`: both use a table `alembic_version`, so never the same file; PostgreSQL: the
    same server, database `<name>_optuna`); None (in memory) for null or another store; else
    `setting` itself (an RDB URL)."""
    if setting in (None, "", "memory"):
        return None
    if setting != "auto":
        return str(setting)
    try:
        url = make_url(tracking_uri)
    except Exception:  # noqa: BLE001  (a file store or an MLflow server: no database of ours)
        return None
    if url.get_backend_name() == "sqlite" and url.database:
        return f"sqlite:///{Path(url.database).expanduser().absolute().parent / 'optuna.db'}"
    if url.get_backend_name() == "postgresql" and url.database:
        return url.set(database=f"{url.database}_optuna").render_as_string(hide_password=False)
    return None


def sweeper_plan(config: DictConfig) -> Plan:
    """The Plan of a sweep's config (`hydra.sweeper.*`, the command line's task overrides)."""
    sweeper = config.hydra.sweeper
    params, conditional = (sweeper.get(k) for k in ("params", "conditional"))
    arguments = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    return plan(_container(params), list(arguments), _container(conditional))


def _container(node: Any) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else {}


def ends(found: BaseDistribution) -> list[Any]:
    """The values a job must accept at the edges of `found`: both ends, or every category."""
    if isinstance(found, CategoricalDistribution):
        return list(found.choices)
    return [found.low, found.high]  # type: ignore[attr-defined]


def check_ends(config: DictConfig, found: Plan, check_job: Callable[[DictConfig], None]) -> None:
    """Each searched key at each end of its range (the other keys as the base config has them; a
    conditional key with its family), composed and checked as a job would be: a SearchSpaceError
    naming the key, its range and the job check's line (`fn.period=int(interval(0, 9))`: period 0).
    """
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    study = next(found.studies(), {})
    base = [k if k.startswith("~") and not v else f"{k}={v}" for k, v in found.fixed.items()]
    base += [f"{k}={v}" for k, v in study.items()]
    cases = [(key, d, []) for key, d in found.searched.items()]
    for parent, by_value in found.conditional.items():
        for value, space in by_value.items():
            cases += [(key, d, [f"{parent}={value}"]) for key, d in space.items()]
    for key, distribution_, given in cases:
        for end in ends(distribution_):
            overrides = [*base, *given, f"{key}={override_text(end)}"]
            try:
                composed = loader.load_sweep_config(config, overrides)
                check_job(OmegaConf.masked_copy(composed, [k for k in composed if k != "hydra"]))
            except Exception as error:  # noqa: BLE001  (a composition or check error: one line)
                line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                where = f" (with {', '.join(given)})" if given else ""
                raise SearchSpaceError(
                    f"{key}={found.texts.get(key, '?')}: at {override_text(end)}{where}: {line}"
                ) from None


def check_search(
    config: DictConfig,
    check_sweep: Callable[[DictConfig], tuple[int, list[str], list[str]]],
    check_job: Callable[[DictConfig], None],
) -> tuple[int, list[str], list[str]]:
    """The search's sweep check (`src.sweep_checks.SearchSweepRun` gives it the project's sweep and
    job checks), before the parent run and the study exist: a bad search space or sampler is one
    line and exit 2; then the base config's values (`check_sweep`), then each searched key at the
    ends of its range (`check_job`). Returns (trials planned, problems, the keys searched)."""
    try:
        found = sweeper_plan(config)
        sampler = config.hydra.sweeper.sampler
        make_sampler(str(sampler.name), sampler.get("seed"), sampler.get("options"))
        if int(config.hydra.sweeper.n_trials) < 1 or int(config.hydra.sweeper.n_jobs) < 1:
            raise SearchSpaceError("hydra.sweeper.n_trials and n_jobs: must be ≥ 1")
        _, problems, _ = check_sweep(config)  # the base config's own values first
        if not problems:
            check_ends(
                config, found, check_job
            )  # then the searched keys at the ends of their ranges
    except SearchSpaceError as error:
        print(f"error: {error}; nothing was run", file=sys.stderr)
        raise SystemExit(2) from None
    studies = len(list(found.studies()))
    jobs = 0 if problems else int(config.hydra.sweeper.n_trials) * studies
    return jobs, problems, [*found.grid, *found.keys()]
