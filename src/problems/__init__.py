"""The online problems: losses f_t and their coefficient streams, projections onto F, step-size
schedules and the exact regret. Plain torch and numpy: no hydra, omegaconf or mlflow.
"""
