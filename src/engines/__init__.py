"""The engines: the torch.optim loop (`torch_loop`), its compiled twin (`fast`) and the minibatch
training loop (`training`). They take plain objects (a spec, an optimizer factory, a schedule) and
return a result; they import neither hydra, omegaconf nor mlflow.
"""
