"""Networks: the architecture registry, building a network with its weights, and extracting
activations."""
