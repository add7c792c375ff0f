"""`python -m src.report [--parent RUN_ID] [--tracking-uri URI] [--experiment NAME] [--out DIR]`."""

from src.quick_exit import run_then_exit
from src.report.sweep import main

run_then_exit(main)
