"""MLflow: the store (client, retries, redaction) and a sweep's parent run from start to end.
Knows nothing of optimizers or problems: it logs the dictionaries, arrays and files it is given.
"""
