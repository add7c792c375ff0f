"""Counterexample search (issue 15): a Hydra sweeper (Optuna) drives jobs of the existing runner,
each job returns a scale-free objective, and `callback.SearchReport` reports the study in MLflow."""
