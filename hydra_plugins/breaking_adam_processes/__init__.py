"""Breaking Adam's process launcher (issue 27): `hydra/launcher=processes` runs a sweep's jobs in
parallel worker processes, where a worker's death costs only the job it was running."""
