"""The typed schema of the config, registered in Hydra's ConfigStore as `base_config`.

`conf/config.yaml` lists `base_config` first in its defaults, so every YAML file and every override
is merged *into* these dataclasses: a value of the wrong type (`steps=abc`, `optim.lr=fast`) or an
unknown top-level key (`+stepz=5`) is rejected at compose time, with Hydra's own message, before any
code of the project runs.

The top level, `log` and its scalars are closed and typed. The groups (`optim`, `fn`, `projection`,
`schedule`) and `tracking` type the keys every option shares and stay *open* for the rest, because
their keys depend on the option: `optim` takes any keyword argument of any `torch.optim` optimizer
(`optim._target_=torch.optim.SGD +optim.momentum=0.9`), `fn` the arguments of its class. An open
node is a dataclass subclassing `dict[str, Any]`: declared fields are typed, other keys take any
value.
Those other keys are checked against the `_target_`'s signature by `src.config.checks`, before any
compute, with a one-line message. (OmegaConf 2.3 marks Dict-subclassing structured configs as
deprecated but supports them; the project pins omegaconf < 2.4. The warning is silenced here.)

`task` and `data` are null unless a real-world experiment is chosen (`task=logreg data=digits`):
`task` is closed (batch size, evaluation chunk, device, threads) around an open `model` node (any
model of `src.tasks.models` with its options), and `data` is open (its `_target_`'s arguments).

Adding a new top-level key to `conf/config.yaml` means adding it to `Config` below.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

warnings.filterwarnings(
    "ignore", message=r"Class `\w+Schema` subclasses `Dict`", category=UserWarning
)


class DType(str, Enum):
    """The iterate's dtype (regret sums are float64 whatever it is)."""

    float32 = "float32"
    float64 = "float64"


class Engine(str, Enum):
    """auto: the fast engine where it reproduces torch exactly, else torch."""

    auto = "auto"
    torch = "torch"
    fast = "fast"


class Schedule(str, Enum):
    """Step-size schedules of `src.problems.schedules` (α_t = α, or α/√t)."""

    constant = "constant"
    inv_sqrt = "inv_sqrt"


class Objective(str, Enum):
    """What a search trial returns to its sweeper (`src.problems.regret.RunResult.scale_free`)."""

    final_distance = "final_distance"
    final_distance_max = "final_distance_max"  # the worst coordinate (d-dim; 1-D: final_distance)
    final_avg_regret_norm = "final_avg_regret_norm"


@dataclass
class OptimSchema(dict[str, Any]):
    """Any `torch.optim` optimizer, as a partial over its parameters; other keys are its kwargs."""

    _target_: str = MISSING
    _partial_: bool = True
    lr: float = MISSING


@dataclass
class FnSchema(dict[str, Any]):
    """An `src.problems.functions.OnlineFunction`; other keys are its constructor's arguments."""

    _target_: str = MISSING


@dataclass
class ProjectionSchema(dict[str, Any]):
    """An `src.problems.projections.Projection`; other keys (low, high, radius) its arguments."""

    _target_: str = MISSING


@dataclass
class ScheduleSchema(dict[str, Any]):
    """A step-size schedule by name (`src.problems.schedules.SCHEDULES`)."""

    name: str = Schedule.constant.value  # a Schedule: checked by src.config.checks


@dataclass
class ModelSchema(dict[str, Any]):
    """A model of `src.tasks.models`; other keys are its options (shape, classes: the dataset)."""

    _target_: str = MISSING


@dataclass
class TaskSchema:
    """A real-world experiment: a model trained by minibatches (`src.engines.training`)."""

    model: ModelSchema = field(default_factory=ModelSchema)
    batch_size: int = 128
    eval_batch_size: int = 1000  # test-set evaluation, in chunks of this many examples
    device: str = "cpu"
    threads: int = 1  # torch's intra-op threads for this job; 0: torch's default (all cores)


@dataclass
class DataSchema(dict[str, Any]):
    """A `src.tasks.datasets.DataSource`; other keys (root, ...) are its arguments."""

    _target_: str = MISSING


@dataclass
class LogSchema:
    points: int = 1000
    figures: bool = True  # each run's own trajectory.png / history.png
    report: bool = True  # a sweep's report at its end (src.report.callback)
    progress_every_s: float = 10.0  # off a terminal: a progress line at most this often (s)


@dataclass
class TrackingSchema(dict[str, Any]):
    uri: str = MISSING
    experiment: str = "breaking-adam"
    resume: str | None = None  # a sweep's parent run id or folder: run only its missing jobs


@dataclass
class SearchSchema:
    """A search trial (conf/search/*.yaml, `src.search`): the final metric returned to the sweeper
    (an Objective), and optionally a reference optimizer run on the same problem, whose objective
    is subtracted (large only where the searched optimizer fails and the reference does not)."""

    objective: str = Objective.final_distance.value  # an Objective: checked by src.config.checks
    reference: OptimSchema | None = None


@dataclass
class Config:
    """The top level: every key a job reads. Values come from conf/config.yaml."""

    optim: OptimSchema = field(default_factory=OptimSchema)
    fn: FnSchema = field(default_factory=FnSchema)
    projection: ProjectionSchema = field(default_factory=ProjectionSchema)
    schedule: ScheduleSchema = field(default_factory=ScheduleSchema)
    task: TaskSchema | None = None  # null: the synthetic problem (fn, projection)
    data: DataSchema | None = None  # the task's dataset
    search: SearchSchema | None = None  # a search trial (conf/search/); null: an ordinary job
    steps: int = MISSING
    seed: int = 0
    replicates: int = 1
    x0: float = 0.0
    # str, not the Enum, so that a bad value gets the checks' one-line error (exit 2) rather than
    # Hydra's multi-line composition error; `src.config.checks` holds them to the Enums above
    dtype: str = DType.float32.value
    engine: str = Engine.auto.value
    autograd: bool = False
    log: LogSchema = field(default_factory=LogSchema)
    tracking: TrackingSchema = field(default_factory=TrackingSchema)


# The keys a job with a task does not read (it trains a model instead): not logged, not validated.
TASK_IGNORES = ("fn", "projection", "x0", "replicates", "autograd")


def register() -> None:
    """Store the schema as `base_config` (idempotent)."""
    ConfigStore.instance().store(name="base_config", node=Config)
