"""Breaking Adam's default sweeper (`hydra/sweeper=checked`): Hydra's cartesian product of the
swept values, each job composed by the sweep's check and by its launcher, not a third time."""
