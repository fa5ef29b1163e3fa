"""Training: one loop for every model kind, its config, and the checkpoint format."""
