"""End a command-line process without the interpreter's teardown.

A process that imported torch, MLflow, numba and matplotlib spends about a second after its last
line freeing every module (`python -c "import torch, mlflow"` takes ~1 s longer to exit than to
import). Nothing in that teardown is ours: our closing work (the sweep's parent run, logging's
flush) is registered with `atexit`. `quick_exit(code)` runs the `atexit` functions, flushes the
standard streams and ends the process with `code` at once (`os._exit`), as `sys.exit(code)` would
have ended it. Then it is a normal `sys.exit`:
- a live non-daemon thread: work that the normal exit waits for;
- a profiler or tracer (`python -m cProfile -o p.out -m src.main ...`, coverage): it writes its
  output after the program returns;
- an interrupted process (status 128 + signal, Ctrl-C or SIGTERM): a parallel launcher's shutdown
  hooks (loky's, run by the normal exit before `atexit`) let its workers end their runs KILLED with
  their trajectories; skipping them lost a worker's trajectory now and then.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

INTERRUPTED = 128  # a status above it is 128 + the signal that stopped the process


def exit_code(code: Any) -> int:
    """The status `sys.exit(code)` ends with: 0 for None, an int as is, 1 for anything else (a
    text, which it prints on stderr)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def other_threads_running() -> bool:
    """Whether a non-daemon thread besides this one is alive (the normal exit joins it)."""
    me = threading.current_thread()
    return any(t is not me and not t.daemon and t.is_alive() for t in threading.enumerate())


def quick_exit(code: Any = 0) -> NoReturn:
    """`sys.exit(code)` without the teardown: `atexit` functions run, streams flushed, then gone."""
    status = exit_code(code)
    interrupted = status > INTERRUPTED
    if interrupted or other_threads_running() or sys.getprofile() or sys.gettrace():
        sys.exit(code)
    if not isinstance(code, int | None):
        print(code, file=sys.stderr)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(status)


def run_then_exit(main: Callable[[], Any]) -> NoReturn:
    """Call `main()`; end the process as its return or `SystemExit` would, without the teardown.
    Any other exception propagates as usual (its traceback and the normal exit)."""
    try:
        main()
    except SystemExit as stop:
        quick_exit(stop.code)
    quick_exit(0)
