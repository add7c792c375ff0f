"""Breaking Adam's user folders (issue 24): `BREAKING_ADAM_USER_DIR` adds a user's own `conf/` to
Hydra's search path and the folder itself to `sys.path` (docs/extending.md)."""
