"""`python -m src.report [--parent RUN_ID] [--tracking-uri URI] [--experiment NAME] [--out DIR]`."""

from src import startup_gc

startup_gc.pause()  # while MLflow and matplotlib are imported (src/startup_gc.py)

from src.quick_exit import run_then_exit  # noqa: E402
from src.report.sweep import main  # noqa: E402

startup_gc.resume()
run_then_exit(main)
