"""Counterexample search (issues 15, 25): a Hydra sweeper (Optuna) drives jobs of the existing
runner, each job returns a scale-free objective, `callback.SearchReport` reports the study in
MLflow and `atlas.AtlasReport` one row per optimizer."""
