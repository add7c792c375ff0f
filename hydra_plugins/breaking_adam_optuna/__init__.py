"""Breaking Adam's Optuna sweeper (issue 25): `hydra/sweeper=optuna`, on Optuna ≥ 4's ask-and-tell
API, replacing hydra-optuna-sweeper. Hydra only loads sweepers from the `hydra_plugins` namespace;
the project runs from its checkout, where this folder joins the installed `hydra_plugins`."""
