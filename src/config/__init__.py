"""The config: its typed schema (Hydra's ConfigStore), the value checks run before any compute, and
every job of a sweep composed in advance. Imports omegaconf, hydra's public API, the packages whose
classes a config names (problems, optimizers, tasks) and the store's redaction; never mlflow
directly, the engines or the job.
"""
