"""Who owns a RUNNING run (host, pid, process start), and the reaper: runs whose owner process
is gone (`kill -9`, a power cut) are marked KILLED."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

from mlflow.tracking import MlflowClient

from src.tracking.calls import retry

OWNER_HOST, OWNER_PID, OWNER_START = "owner.host", "owner.pid", "owner.start"
STALE_REASON = "owner process gone"


def owner_tags() -> dict[str, str]:
    """Who owns a run while it is RUNNING: this host, process and the process's start (MLflow has
    no heartbeat; `reap_stale_runs` reads these to find runs whose owner is gone)."""
    return {
        OWNER_HOST: socket.gethostname(),
        OWNER_PID: str(os.getpid()),
        OWNER_START: _process_start(os.getpid()),
    }


def _process_start(pid: int) -> str:
    """The boot and start time of process `pid` (Linux: boot id + start ticks), '' if unknown: a
    pid reused by another process, or a reboot, gives another value."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return ""


def owner_gone(tags: Mapping[str, str]) -> bool:
    """Whether the process that owns a RUNNING run (by its tags) is known to be gone. A run owned
    by another host, or with no owner tags (made by another tool), is never called gone."""
    if tags.get(OWNER_HOST) != socket.gethostname() or not tags.get(OWNER_PID, "").isdigit():
        return False
    pid = int(tags[OWNER_PID])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    start = tags.get(OWNER_START, "")
    return bool(start) and _process_start(pid) != start


def reap_stale_runs(client: MlflowClient, experiment: str) -> list[str]:
    """Mark KILLED every RUNNING run of `experiment` whose owner process is gone (tag
    `failure.reason`: owner process gone); returns their ids."""
    running = retry(
        lambda: client.search_runs([experiment], "attributes.status = 'RUNNING'", max_results=50000)
    )
    reaped = []
    for run in running:
        if owner_gone(run.data.tags):
            run_id = run.info.run_id
            retry(lambda r=run_id: client.set_tag(r, "failure.reason", STALE_REASON))
            retry(lambda r=run_id: client.set_terminated(r, "KILLED"))
            reaped.append(run.info.run_id)
    return reaped
