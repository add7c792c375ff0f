"""Breaking Adam's batched launcher (issue 24): `hydra/launcher=batched` runs a sweep's jobs that
differ only in per-element values as one computation, each then logged as its own run."""
