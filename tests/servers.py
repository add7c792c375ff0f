"""Real servers for the scaling tests, each on 127.0.0.1 on a free port, in a throwaway folder.

Every helper is a context manager: it starts the server, waits (with a timeout) until it answers,
yields its address, and always stops it — by the process group it started, never by name — and
removes its folder. A server that dies or never answers raises with the tail of its log.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's mlflow and ray
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray: keep every address on 127.0.0.1
# MLflow 3's server also starts a job runner with 7 huey consumers (GenAI jobs): not used here
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class ServerError(RuntimeError):
    """A test server did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def http_ok(url: str) -> bool:
    with suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
    return False


def tail(path: Path, lines: int = 40) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def wait_for(
    ready: Callable[[], bool],
    what: str,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll `ready` until true; ServerError (with the log's tail) on timeout or if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"{what} exited with {proc.returncode}\n{tail(log) if log else ''}")
        time.sleep(0.5)
    raise ServerError(f"{what} not ready after {timeout:.0f}s\n{tail(log) if log else ''}")


def stop_group(proc: subprocess.Popen, grace: float = 20, leader_only: bool = False) -> None:
    """SIGTERM the process group `proc` leads (it was started in a new session), or only `proc`
    if it stops its own children; after `grace` seconds SIGKILL whatever is left of the group."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            if leader_only:
                proc.terminate()
            else:
                os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    with suppress(ProcessLookupError):  # stragglers of the group (workers, agents)
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def spawn(
    args: list[str], log: Path, env: dict[str, str] | None = None, **kwargs
) -> subprocess.Popen:
    """Start `args` in a new session (its own process group), output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            **kwargs,
        )


# --- PostgreSQL ---------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL server binaries (Debian's layout first)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@contextmanager
def postgres(database: str = "mlflow", timeout: float = 60) -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1:<free port> with `database`; yields its URI.

    initdb refuses to run as root: as root the cluster belongs to (and runs as) `postgres`
    (or `nobody`); otherwise to the current user. fsync is off: the data is thrown away.
    """
    bindir = postgres_bin()
    if bindir is None:
        raise ServerError("no PostgreSQL server binaries (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="ba-pg-"))
    data, log = folder / "data", folder / "postgres.log"
    as_user: dict = {}
    if os.geteuid() == 0:  # Debian's package makes the `postgres` user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            owner = pwd.getpwnam("nobody")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    port = free_port()
    proc = None
    try:
        init = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            check=False,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            **as_user,
        )
        if init.returncode != 0:
            raise ServerError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        proc = spawn(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={folder}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=100",
            ],
            log,
            cwd=folder,
            **as_user,
        )
        wait_for(lambda: port_open(port), "postgres", timeout, proc, log)
        uri = f"postgresql://postgres@127.0.0.1:{port}/{database}"
        _create_database(port, database, timeout)
        yield uri
    finally:
        if proc is not None:
            if proc.poll() is None:  # SIGINT: PostgreSQL's fast shutdown
                proc.send_signal(signal.SIGINT)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(30)
            stop_group(proc, grace=5)
        shutil.rmtree(folder, ignore_errors=True)


def _create_database(port: int, database: str, timeout: float) -> None:
    import psycopg  # the `postgres` extra

    deadline = time.monotonic() + timeout
    while True:  # the port opens a moment before connections are accepted
        try:
            connection = psycopg.connect(
                host="127.0.0.1",
                port=port,
                user="postgres",
                dbname="postgres",
                connect_timeout=5,
                autocommit=True,
            )
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with connection:
        connection.execute(f'CREATE DATABASE "{database}"')


# --- MLflow tracking server ---------------------------------------------------------------------


@contextmanager
def mlflow_server(
    backend_uri: str, timeout: float = 180, started: list | None = None
) -> Iterator[tuple[str, Path]]:
    """`mlflow server` over `backend_uri`, proxying artifacts to a temp folder.

    Yields (http://127.0.0.1:PORT, the artifacts folder); its Popen is appended to `started` (a
    test that stops the server itself, with `stop_group`)."""
    folder = Path(tempfile.mkdtemp(prefix="ba-mlflow-"))
    artifacts, log = folder / "artifacts", folder / "server.log"
    port = free_port()
    proc = spawn(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            backend_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        log,
        env=SERVER_ENV,
        cwd=folder,
    )
    if started is not None:
        started.append(proc)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(f"{url}/health"), "mlflow server", timeout, proc, log)
        yield url, artifacts
    finally:
        stop_group(proc)
        shutil.rmtree(folder, ignore_errors=True)


# --- Ray ----------------------------------------------------------------------------------------


@contextmanager
def ray_head(num_cpus: int = 2, timeout: float = 120) -> Iterator[str]:
    """A Ray head on 127.0.0.1:<free port> (`ray start --head --block`); yields its address."""
    folder = Path(tempfile.mkdtemp(prefix="ba-ray-"))  # short: Ray's socket paths live here
    log = folder / "head.log"
    port = free_port()
    proc = spawn(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            str(num_cpus),
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
            "--temp-dir",
            str(folder / "t"),
            "--block",
        ],
        log,
        env=LOCAL_ENV,
        cwd=folder,
    )
    try:
        wait_for(lambda: "Ray runtime started" in tail(log, 200), "ray head", timeout, proc, log)
        yield f"127.0.0.1:{port}"
    finally:  # `ray start --block` drains and stops its node on SIGTERM
        stop_group(proc, grace=45, leader_only=True)
        shutil.rmtree(folder, ignore_errors=True)
