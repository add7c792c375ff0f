"""A run's artifacts in the store whole or not at all.

MLflow copies a folder into the run's artifact folder file by file; on a full disk the copy stops
part-way and leaves a file cut short (a 0-byte `trajectory.npz` that a reader cannot load). After
a failed upload, each file whose stored size differs from the local one is removed, through the
run's artifact repository (`mlflow.store.artifact.artifact_repository_registry`), and the error
names where the write failed: the run's artifact folder in the store.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from src.tracking.calls import StoreError, retry
from src.tracking.redaction import redact


def log_whole(client: MlflowClient, run_id: str, folder: Path, under: str | None = None) -> None:
    """Log the files under `folder` at the run's artifact root (or in its folder `under`); on an
    OSError (a full disk), the files written in part are removed and StoreError says `artifacts:
    cannot write <the run's artifact folder>/<file>: <reason>`."""
    try:
        retry(lambda: client.log_artifacts(run_id, str(folder), under))
    except OSError as error:
        root = retry(lambda: client.get_run(run_id)).info.artifact_uri
        try:
            cut = remove_partial(client, run_id, root, folder, under)
        except Exception:  # noqa: BLE001  (the folder itself unreadable: say where it is)
            cut = []
        where = f"{display(root)}/{cut[0]}" if cut else display(root)
        reason = error.strerror or _reason(error)
        raise StoreError(f"artifacts: cannot write {where}: {reason}") from error


def remove_partial(
    client: MlflowClient, run_id: str, root: str, folder: Path, under: str | None = None
) -> list[str]:
    """The files of `folder` (logged in the artifact folder `under`) that are not whole in the
    run's artifacts (absent or another size), in order; those present are deleted, best effort
    (the store may be what failed)."""
    prefix = f"{under.strip('/')}/" if under else ""
    local = {
        prefix + path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    stored: dict[str, int | None] = {}
    for parent in sorted({str(Path(p).parent) for p in local}):
        listed = retry(lambda p=parent: client.list_artifacts(run_id, None if p == "." else p))
        stored.update({info.path: info.file_size for info in listed if not info.is_dir})
    cut = [path for path, size in local.items() if stored.get(path) != size]
    repository = get_artifact_repository(root)
    for path in cut:
        if path in stored:
            with contextlib.suppress(Exception):
                repository.delete_artifacts(path)
    return cut


def display(uri: str) -> str:
    """A `file://` artifact URI as its path; any other (a server's) as is, redacted."""
    return uri.removeprefix("file://") if uri.startswith("file://") else redact(uri)


def _reason(error: OSError) -> str:
    """shutil.copytree's error carries a list of (source, target, reason): the first reason."""
    if error.args and isinstance(error.args[0], list) and error.args[0]:
        return str(error.args[0][0][-1])
    return str(error)
