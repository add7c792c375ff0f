"""A sweep's report read back from MLflow: Figures 1 and 2, heatmaps, summary (`python -m
src.report`). `figures` draws from plain arrays; `sweep` reads the store and writes the files.
"""
