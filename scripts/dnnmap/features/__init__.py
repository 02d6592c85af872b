"""Features from activations: out-of-core PCA and the per-layer reduction."""
