"""`SweepReport`: a sweep's report written at its end by the process that launched it.

The Hydra callback `hydra.callbacks.report` (conf/config.yaml) calls `src.report.sweep.write_report`
when the sweep's jobs are done: Figure 1 (or 2), the heatmaps of a grid and `summary.md` in
`<sweep dir>/report/`, also logged on the parent run as `report/`. Its imports and the store are
already paid by the sweep (a separate `python -m src.report` pays ~3 s of imports more).
`log.report=false` leaves it out; `make figure` (`python -m src.report`) draws it again from the
store, into `reports/`. A report that fails is a warning: the sweep's runs are all in the store.

Listed after `sweep` and `summary`: Hydra calls end hooks in reverse order, so this runs first,
while the parent run is still open, and the summary can say where the report is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from src.tracking import store as tracking
from src.tracking.sweep import parent_run_id

log = logging.getLogger(__name__)
REPORT_FOLDER = "report"  # in the sweep's folder


def report_folder(sweep_dir: Path) -> Path:
    return sweep_dir / REPORT_FOLDER


class SweepReport(Callback):
    """Writes the report at the sweep's end (see the module docstring)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.log.get("report", True):
            return
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        parent = parent_run_id(sweep_dir)
        if parent is None:  # no parent run: the sweep stopped before it began
            return
        from src.report.sweep import write_report  # noqa: PLC0415  (matplotlib: only here)

        try:
            client, _ = tracking.connect(str(config.tracking.uri), str(config.tracking.experiment))
            run = tracking.retry(lambda: client.get_run(parent))  # a hung store: at once
            folder = write_report(client, run, report_folder(sweep_dir))
        except (Exception, SystemExit) as error:  # noqa: BLE001  (a report never fails a sweep)
            log.warning(
                "no report: %s (`make figure` draws it from the store)",
                tracking.redact(str(error)),
            )
            return
        log.info("report: %s", folder)
