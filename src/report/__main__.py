"""`python -m src.report [--parent RUN_ID] [--tracking-uri URI] [--experiment NAME] [--out DIR]`."""

from src.report.sweep import main

main()
