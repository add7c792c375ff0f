"""MLflow tracking through `MlflowClient`: runs, params, metric histories, artifacts, status.

Knows nothing of optimizers or problems: it logs dictionaries and arrays it is given. A SQLite
store's "database is locked" is waited out with backoff; a server's transient errors are retried by
MLflow itself within one bounded budget (`HTTP_BUDGET`, under 30 s a call); then the call fails
loudly, so a metric history never has a silent gap.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import sqlite3
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

T = TypeVar("T")
METRICS_PER_BATCH = 1000  # log_batch's limit
PARAMS_PER_BATCH = 100
PARENT_TAG = "mlflow.parentRunId"
OWNER_HOST, OWNER_PID, OWNER_START = "owner.host", "owner.pid", "owner.start"
STALE_REASON = "owner process gone"
PARENT_ENV = "BREAKING_ADAM_PARENT_RUN_ID"  # set in a sweep's jobs (src.tracking.sweep)
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306}


class StoreError(RuntimeError):
    """The tracking store cannot be used; the message names the (redacted) URI."""


SECRET_KEYS = r"[^\s=&;#?'\"]*(?:password|passwd|pwd|secret|token)[^\s=&;#?'\"]*"
_USERINFO_PASSWORD = re.compile(r"(//[^/:@?#\s'\"]*:)[^/?#\s'\"]*@")  # up to the LAST @ of the host
_QUERY_SECRET = re.compile(rf"([?&;]{SECRET_KEYS}=)[^&;#\s'\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` (a URI, or any text holding one) with every password replaced by ***: a userinfo
    password (`//user:PASSWORD@host`, however many @ it holds: the host follows the last one)
    and any query parameter named like a secret (`password=`, `client_secret=`, `token=`, ...)."""
    return _QUERY_SECRET.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", text))


def carries_password(uri: str) -> bool:
    """Whether the URI holds a password (redact would change it)."""
    return redact(uri) != uri


# A server's requests: MLflow's own retries, bounded (its defaults retry for 14+ minutes). Worst
# case a call: (1 + MAX_RETRIES) × TIMEOUT + backoff 0 + 2 + 4 s + jitter ≤ 4 × 5 + 6 + 1.5 =
# 27.5 s, the one retry budget: `retry` below adds no loop around it (it only waits out SQLite's
# lock). A user's own values in the environment win.
HTTP_BUDGET = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
for _name, _value in HTTP_BUDGET.items():
    os.environ.setdefault(_name, _value)
_unreachable: list[str] = []  # a server that exhausted the budget once: no call waits again


def retry(call: Callable[[], T], attempts: int = 6, first_wait: float = 0.2) -> T:
    """call() retried with exponential backoff while a SQLite store says "database is locked"
    (or busy); any other error is raised at once. A server's transient errors are retried by
    MLflow itself within `HTTP_BUDGET`; once a server has not answered within it, every later call
    of this process fails at once with StoreError (the run's clean-up must not wait again)."""
    if _unreachable:
        raise StoreError(_unreachable[0])
    for attempt in range(attempts):
        try:
            return call()
        except (MlflowException, sqlite3.OperationalError, ConnectionError, OSError) as error:
            if _gone(error):
                _unreachable.append(f"server not answering: {_first_line(error)[:200]}")
                raise
            if attempt == attempts - 1 or not _locked(error):
                raise
            time.sleep(first_wait * 2**attempt)
    raise AssertionError("unreachable")


def _locked(error: Exception) -> bool:
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text


def _gone(error: Exception) -> bool:
    """A server that MLflow's own retries gave up on (refused, reset, timed out)."""
    text = str(error)
    return "Max retries exceeded" in text or "API request to" in text and "failed" in text


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
    folder = database.resolve().parent
    if root.is_relative_to(folder):
        return None
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


def experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    """The id of experiment `name`, created if missing (safe when several processes race)."""
    found = retry(lambda: client.get_experiment_by_name(name))
    if found is None:
        try:
            created = retry(
                lambda: client.create_experiment(name, artifact_location(uri), EXPERIMENT_TAGS)
            )
            return created
        except MlflowException:
            found = retry(lambda: client.get_experiment_by_name(name))
            if found is None:
                raise
    for key, value in EXPERIMENT_TAGS.items():  # an experiment made before, or by another tool
        if key not in found.tags:
            retry(lambda k=key, v=value: client.set_experiment_tag(found.experiment_id, k, v))
    return found.experiment_id


# MLflow 3's UI opens an experiment on its GenAI pages unless it is marked as model development
EXPERIMENT_TAGS = {
    "mlflow.experimentKind": "custom_model_development",
    "mlflow.note.content": (
        "Breaking Adam: optimizers on the online problems of Reddi, Kale & Kumar (ICLR 2018). "
        "One parent run per sweep, one child run per job: metrics x and avg_regret over steps, "
        "final_x / final_regret / final_avg_regret, trajectory.npz and trajectory.png."
    ),
}


def connect(uri: str, experiment: str) -> tuple[MlflowClient, str]:
    """A client on `uri` and the experiment's id; StoreError naming the URI if unusable.

    Opened once per process (the basic launcher runs every job of a sweep in one process: the
    store's checks and schema are paid once). A new SQLite file gets its schema under a file lock,
    so that processes starting together create it once, whoever comes first."""
    if (uri, experiment) in _OPEN:
        return _OPEN[uri, experiment]
    check_store(uri)
    if redact(uri) != uri:  # MLflow prints "View run at <the URI>" on stdout: not with a password
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    try:
        with _schema_lock(uri):
            client = MlflowClient(tracking_uri=uri)
            found = experiment_id(client, experiment, uri)
    except Exception as error:  # any store failure becomes one line naming the store
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreError(f"tracking.uri={redact(uri)}: {first[:300]}") from error
    _OPEN[uri, experiment] = (client, found)
    if not os.environ.get(PARENT_ENV):  # a sweep's launching process has said it already
        warn_misplaced_artifacts(client, found, uri)
    return client, found


_OPEN: dict[tuple[str, str], tuple[MlflowClient, str]] = {}


@contextlib.contextmanager
def _schema_lock(uri: str) -> Iterator[None]:
    """An exclusive lock on `<db>-init.lock` beside a SQLite store while it is first opened (MLflow
    creates or migrates the schema then; two processes doing it at once corrupt the migration)."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    with open(path.parent / f"{path.name}-init.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def start_run(
    client: MlflowClient,
    experiment: str,
    name: str,
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> str:
    """Create a RUNNING run (a child of `parent_run_id` if given); returns its id."""
    tags = {**owner_tags(), **tags}
    if parent_run_id:
        tags[PARENT_TAG] = parent_run_id
    tags = {k: redact(str(v)) for k, v in tags.items()}
    run = retry(lambda: client.create_run(experiment, run_name=redact(name), tags=tags))
    return run.info.run_id


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
            set_tags(client, run.info.run_id, {"failure.reason": STALE_REASON})
            end_run(client, run.info.run_id, "KILLED")
            reaped.append(run.info.run_id)
    return reaped


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    items = [Param(k, redact(str(v))[:6000]) for k, v in params.items()]  # no URI password
    for i in range(0, len(items), PARAMS_PER_BATCH):
        batch = items[i : i + PARAMS_PER_BATCH]
        retry(lambda batch=batch: client.log_batch(run_id, params=batch))


def log_histories(
    client: MlflowClient, run_id: str, steps: Sequence[int], series: Mapping[str, Sequence[float]]
) -> int:
    """Log each named series at `steps` with log_batch, 1000 points a call; returns the count."""
    now = int(time.time() * 1000)
    metrics = [
        Metric(name, float(v), now, int(s))
        for name, values in series.items()
        for s, v in zip(steps, values, strict=True)
    ]
    for i in range(0, len(metrics), METRICS_PER_BATCH):
        batch = metrics[i : i + METRICS_PER_BATCH]
        retry(lambda batch=batch: client.log_batch(run_id, metrics=batch))
    return len(metrics)


def log_metrics(
    client: MlflowClient, run_id: str, values: Mapping[str, float], step: int = 0
) -> None:
    log_histories(client, run_id, [step], {k: [v] for k, v in values.items()})


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        value = redact(str(value))[:5000]  # noqa: PLW2901  (no URI password in any tag)
        retry(lambda key=key, value=value: client.set_tag(run_id, key, value))


def log_files(client: MlflowClient, run_id: str, files: Iterable[tuple[Path, str | None]]) -> None:
    """Log (local path, artifact folder) pairs; a folder path logs its whole tree."""
    for path, folder in files:
        if Path(path).is_dir():
            retry(lambda p=path, f=folder: client.log_artifacts(run_id, str(p), f))
        elif Path(path).exists():
            retry(lambda p=path, f=folder: client.log_artifact(run_id, str(p), f))


def log_folder(client: MlflowClient, run_id: str, folder: Path) -> None:
    """Log the files under `folder` (its tree) at the run's artifact root, in one call."""
    retry(lambda: client.log_artifacts(run_id, str(folder)))


def download(client: MlflowClient, run_id: str, path: str, folder: Path | str) -> Path:
    """The run's artifact `path` copied into `folder`, without MLflow's progress bar on stderr (a
    sweep's report reads every run's arrays: one bar each among the sweep's own lines)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return Path(retry(lambda: client.download_artifacts(run_id, path, str(folder))))


def log_text(client: MlflowClient, run_id: str, text: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text)
        log_files(client, run_id, [(path, None)])


def end_run(client: MlflowClient, run_id: str, status: str) -> None:
    """Terminate with FINISHED, FAILED or KILLED."""
    RunStatus.from_string(status)  # validates the name
    retry(lambda: client.set_terminated(run_id, status))


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
