"""The config: its typed schema (Hydra's ConfigStore), the value checks run before any compute, and
every job of a sweep composed in advance.

- `schema.py`: the typed schema; `jobs.py`: every job of a sweep, composed with Hydra's public API.
- `checks.py`: `validate(cfg)`, the checks of the top level and of the optim, fn and projection
  groups; `task_checks.py`, `tracking_checks.py`, `limits.py` (x0 in F, finite gradients, memory):
  the other concerns' checks; `values.py`: the one-line messages they share.

Imports omegaconf, hydra's public API, the packages whose classes a config names (problems,
optimizers, tasks) and the store's redaction; never mlflow directly, the engines or the job.
"""
