"""`src.config.jobs`: every job of a sweep composed once, before any runs. Hydra composes a basic
sweep's job three times (our check, the sweeper's check of its batch, the launcher): the two later
ones take a copy of the first. Real sweeps; `sitecustomize` counts Hydra's compositions in the
process under test."""

from __future__ import annotations

import collections
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import run_probed

PROBE = """
import atexit, json, os
from pathlib import Path
from hydra._internal.config_loader_impl import ConfigLoaderImpl
_composed = []
_load = ConfigLoaderImpl.load_configuration

def _counting(self, config_name, overrides, run_mode, *args, **kwargs):
    _composed.append(list(overrides))
    return _load(self, config_name, overrides, run_mode, *args, **kwargs)

ConfigLoaderImpl.load_configuration = _counting
atexit.register(lambda: Path(os.environ["PROBE_FILE"]).write_text(json.dumps(_composed)))
"""


def test_each_job_of_a_sweep_is_composed_once_and_launched_with_its_own_config(
    tmp_path: Path,
) -> None:
    uri, sweep = f"sqlite:///{tmp_path}/m.db", tmp_path / "m"
    args = ["-m", "optim=adam,amsgrad,yogi", "fn=online", "steps=3000", "log.figures=false"]
    args += ["log.report=false", f"tracking.uri={uri}", f"hydra.sweep.dir={sweep}"]
    _, composed = run_probed(tmp_path, PROBE, "-m", "src.main", *args)
    per_job = collections.Counter(
        optim for overrides in composed for optim in overrides
        if optim.startswith("optim=") and "," not in optim  # a job's, not the sweep's
    )  # fmt: skip
    assert per_job == {"optim=adam": 1, "optim=amsgrad": 1, "optim=yogi": 1}
    for number, optim in enumerate(["adam", "amsgrad", "yogi"]):  # each job its own copy
        hydra = yaml.safe_load((sweep / str(number) / ".hydra" / "hydra.yaml").read_text())
        assert hydra["hydra"]["job"]["num"] == number
        assert f"optim={optim}" in hydra["hydra"]["overrides"]["task"]
        assert hydra["hydra"]["sweep"]["dir"] == str(sweep)
        job = yaml.safe_load((sweep / str(number) / ".hydra" / "config.yaml").read_text())
        assert job["optim"]["_target_"].endswith("Yogi" if optim == "yogi" else "Adam")
        assert job["optim"].get("amsgrad", False) == (optim == "amsgrad")
    runs = MlflowClient(uri).search_runs(["1"], "attributes.status = 'FINISHED'")
    assert sorted(r.data.tags.get("job", "parent") for r in runs) == ["0", "1", "2", "parent"]
