"""The real-data experiments' pieces: the paper's three models and the dataset readers.
Plain torch and numpy: no hydra, omegaconf or mlflow.
"""
