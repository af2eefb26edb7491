"""PyTorch building blocks of the trained methods: layers, losses, the training loop."""
