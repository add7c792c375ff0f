"""A lower bound of the default sweep's time, for `make bench`: `python -m src.bench_bound URI
[STEPS]` runs the paper's four jobs (Adam and AMSGrad on Figure 1's online and stochastic
problems, from their conf/ values) in the project's compiled kernel, and records each as an MLflow
run in the store at URI: its metric histories and finals, logged as a job logs them
(`src.tracking.store.log_result`), and its arrays (`trajectory.npz`). Nothing else: no Hydra, no
check, no torch.optim object, no params or tags, no config files, no figure, no report, no parent
run: a one-process sweep that runs the same kernel and records as much takes at least this long.
`src.bench` times it beside the floor and the sweep: the framework's part of the sweep's time is
the sweep's minus this.
tests/test_bench_bound.py checks that its runs' metrics and arrays are the sweep's.
"""

from __future__ import annotations

import gc

if __name__ == "__main__":
    gc.disable()  # as src.main: no rescans while the imports make their objects (src.collector)

import importlib  # noqa: E402
import inspect  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402, F401  (the floor's two imports, as the sweep makes them)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from src import PROJECT_ROOT, collector  # noqa: E402
from src.engines.fast.loop import run_fast  # noqa: E402
from src.engines.spec import RunSpec  # noqa: E402
from src.optimizers import OPTIMIZERS  # noqa: E402
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
    top, box = conf("config.yaml"), conf("projection/box.yaml")
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    for optim in ("adam", "amsgrad"):
        variant = OPTIMIZERS[torch.optim.Adam].variant(adam_keywords(optim))
        if isinstance(variant, str):  # the fast engine declines it: no bound to time
            raise SystemExit(f"optim={optim}: {variant}")
        for fn in ("online", "stochastic"):
            node = conf(f"fn/{fn}.yaml")
            node, replicates = node.get("fn", node), int(node.get("replicates", 1))
            spec = RunSpec(
                instance(node),
                instance(box),
                steps=steps or int(top["steps"]),
                replicates=replicates,
                seed=int(top["seed"]),
                x0=float(top["x0"]),
                dtype=getattr(torch, top["dtype"]),
                log_points=int(top["log"]["points"]),
            )
            result = run_fast(spec, variant)  # the schedule: constant, conf/config.yaml's
            run = client.create_run(experiment, run_name=f"{optim} · {fn}").info.run_id
            log_result(client, run, result)  # its metrics, as a job logs them
            with tempfile.TemporaryDirectory() as folder:  # its arrays, as a job keeps them
                path = Path(folder) / f"{result.artifact}.npz"
                np.savez(path, **result.arrays())
                client.log_artifact(run, str(path))
            client.set_terminated(run)


if __name__ == "__main__":
    collector.run(  # as src.main: the start frozen, the collector on, the end collected
        main,
        sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path.cwd() / 'mlflow.db'}",
        int(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
