"""The config: its typed schema (Hydra's ConfigStore) and the value checks run before any compute.

Owns what a valid job config is. Imports omegaconf, hydra's public API and the packages whose
classes a config names (problems, optimizers, tasks); never tracking, engines or mlflow.
"""
