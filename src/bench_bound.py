"""The least any implementation of the default sweep does in one process, for `make bench`:
`python -m src.bench_bound URI [STEPS]` runs the paper's four jobs (Adam and AMSGrad on Figure 1's
online and stochastic problems, 6,000,000 steps, their conf/ values) in the project's compiled
kernel, and records each as an MLflow run in the store at URI: its metric histories and finals,
logged as a job logs them (`src.tracking.store.log_result`). Nothing else: no Hydra, no check, no
torch.optim object, no figure, no report, no parent run. `src.bench` times it beside the floor and
the sweep, so the framework's part of the sweep's time (the sweep's minus this) is measured.
tests/test_bench_bound.py checks that its runs are the sweep's, metric for metric.
"""

from __future__ import annotations

import gc

if __name__ == "__main__":
    gc.disable()  # as src.main: no rescans while the imports make their objects (src.collector)

import importlib  # noqa: E402
import inspect  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402, F401  (the floor's two imports, as the sweep makes them)
import torch  # noqa: E402
import yaml  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from src import PROJECT_ROOT, collector  # noqa: E402
from src.engines.fast.loop import run_fast  # noqa: E402
from src.engines.spec import RunSpec  # noqa: E402
from src.optimizers import OPTIMIZERS  # noqa: E402
from src.problems.projections import Box  # noqa: E402
from src.tracking.store import log_result  # noqa: E402

CONF = PROJECT_ROOT / "conf"
EXPERIMENT = "bench-bound"


def conf(path: str) -> dict:
    return yaml.safe_load((CONF / path).read_text())


def instance(node: dict) -> object:
    """The object a conf node's `_target_` names, built with its other keys."""
    module, _, name = node["_target_"].rpartition(".")
    kwargs = {k: v for k, v in node.items() if not k.startswith("_")}
    return getattr(importlib.import_module(module), name)(**kwargs)


def adam_keywords(optim: str) -> dict:
    """conf/optim/<optim>.yaml over torch.optim.Adam's own defaults, as its param group holds them
    (read from its signature: no optimizer is built)."""
    node = conf(f"optim/{optim}.yaml")
    assert node["_target_"] == "torch.optim.Adam"
    defaults = {
        name: p.default
        for name, p in inspect.signature(torch.optim.Adam).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in node.items() if k[0] != "_"}
    return {**defaults, **given}


def main(uri: str, steps: int | None = None) -> None:
    steps = steps or int(conf("config.yaml")["steps"])
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    for optim in ("adam", "amsgrad"):
        variant = OPTIMIZERS[torch.optim.Adam].variant(adam_keywords(optim))
        for fn in ("online", "stochastic"):
            node = conf(f"fn/{fn}.yaml")
            node, replicates = node.get("fn", node), int(node.get("replicates", 1))
            spec = RunSpec(instance(node), Box(), steps=steps, replicates=replicates)
            result = run_fast(spec, variant)
            run = client.create_run(experiment, run_name=f"{optim} · {fn}").info.run_id
            log_result(client, run, result)  # as a job logs it
            client.set_terminated(run)


if __name__ == "__main__":
    collector.run(  # as src.main: the start frozen, the collector on, the end collected
        main,
        sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path.cwd() / 'mlflow.db'}",
        int(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
