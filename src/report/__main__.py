"""`python -m src.report [--parent RUN_ID] [--tracking-uri URI] [--experiment NAME] [--out DIR]`."""

import gc

gc.disable()  # the imports make ~800,000 long-lived objects: no rescans of them (src/collector.py)

from src import collector, streams  # noqa: E402
from src.report.sweep import main  # noqa: E402

streams.guard()
collector.run(main)
