"""The training loop, its checks and its extras (pretraining, the shared base, logs)."""
