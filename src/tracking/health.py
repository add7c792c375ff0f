"""Is the store usable? Checked within seconds, before any compute: a SQLite file's folder
writable, a server reachable and answering; and where a SQLite store keeps its artifacts."""

from __future__ import annotations

import socket
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mlflow.tracking import MlflowClient

from src.tracking.calls import StoreError, retry
from src.tracking.redaction import redact

DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306}


def check_store(uri: str, timeout: float = 3.0) -> None:
    """Fail within seconds, before any compute, if the store at `uri` cannot be used."""
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0]  # postgresql+psycopg2 is postgresql
    if scheme == "sqlite":
        path = Path(
            uri.removeprefix("sqlite:///")
            if uri.startswith("sqlite:////") or uri.startswith("sqlite:///")
            else parts.path
        )
        folder = path.parent if str(path) else Path(".")
        if not folder.is_dir() or not _can_write(folder, path):
            raise StoreError(f"tracking.uri={redact(uri)}: cannot write {path}")
    elif scheme in DEFAULT_PORTS:
        if not parts.hostname and scheme in ("http", "https"):
            raise StoreError(f"tracking.uri={redact(uri)}: no host")
        if parts.hostname:  # a database on a unix socket (host in the query) is not probed
            try:
                port = parts.port or DEFAULT_PORTS[scheme]
            except ValueError as error:
                raise StoreError(f"tracking.uri={redact(uri)}: {error}") from None
            try:
                socket.create_connection((parts.hostname, port), timeout=timeout).close()
            except OSError as error:
                raise StoreError(
                    f"tracking.uri={redact(uri)}: server not reachable at "
                    f"{parts.hostname}:{port} ({error})"
                ) from None
            if scheme in ("http", "https"):
                _check_answers(uri, timeout)
    elif scheme not in ("file", "databricks"):
        raise StoreError(
            f"tracking.uri={redact(uri)}: unsupported scheme {parts.scheme!r} "
            "(allowed: sqlite, http, https, postgresql, mysql)"
        )


def _can_write(folder: Path, path: Path) -> bool:
    """Whether a file can be created in `folder` and `path` opened for writing: tried, not asked
    of os.access (which says yes to root on a read-only or pseudo file system)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
        if path.exists():
            with open(path, "ab"):
                pass
    except OSError:
        return False
    return True


def _check_answers(uri: str, timeout: float) -> None:
    """A server that accepts connections but never answers (stopped, hung) fails here within
    `timeout`, not after MLflow's own minutes of retries. Any HTTP answer will do."""
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]  # never send the credentials with the probe
    try:
        urllib.request.urlopen(
            f"{parts.scheme}://{host}{parts.path.rstrip('/')}/health", timeout=timeout
        ).close()
    except urllib.error.HTTPError:
        return  # it answered (401, 404, ...): MLflow's own calls will say more
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ssl.SSLError) or isinstance(error, ssl.SSLError):
            return  # it answered TLS: a certificate question is MLflow's to settle
        raise StoreError(
            f"tracking.uri={redact(uri)}: server not answering within {timeout:g} s ({reason})"
        ) from None


def artifact_location(uri: str) -> str | None:
    """For a SQLite store, artifacts go in `mlruns/` beside the database file."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()
    return None


def misplaced_artifacts(uri: str, location: str | None) -> str | None:
    """One line if a SQLite store's experiment keeps its artifacts outside the store's folder.

    MLflow records an experiment's artifact location as an absolute `file://` path when the
    experiment is created. A copied or moved `mlflow.db` therefore keeps writing (and reading) its
    artifacts in the old folder; this says so, naming both places. None when all is in place, for
    a non-SQLite store, or for a non-file location (a server's `mlflow-artifacts:`)."""
    database = sqlite_path(uri)
    if database is None or not location:
        return None
    parsed = urlsplit(location)
    if parsed.scheme not in ("", "file"):
        return None
    root = Path(url2pathname(parsed.path)).resolve()
    folder = database.absolute().parent  # where the URI says the store is (a symlinked file: here)
    if root.is_relative_to(folder.resolve()) or root.is_relative_to((folder / "mlruns").resolve()):
        return None  # in place, also when mlflow.db or mlruns/ is a symlink into another folder
    return (
        f"warning: the store {database} keeps its artifacts in {root}, outside {folder} "
        "(a copied or moved mlflow.db writes to its old folder: docs/tracking.md)"
    )


def warn_misplaced_artifacts(client: MlflowClient, experiment: str, uri: str) -> None:
    """Print `misplaced_artifacts`'s line on stderr (nothing if the experiment does not exist)."""
    found = retry(lambda: client.get_experiment(experiment))
    line = misplaced_artifacts(uri, found.artifact_location if found else None)
    if line:
        print(line, file=sys.stderr)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
