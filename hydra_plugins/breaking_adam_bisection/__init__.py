"""Breaking Adam's bisection sweeper (issue 15): `hydra/sweeper=bisection`. Hydra only loads
sweepers from the `hydra_plugins` namespace; the project runs from its checkout, where this folder
joins the installed `hydra_plugins`."""
