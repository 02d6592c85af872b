"""Statistics shared by every analysis: cross-validation splits, metrics and permutation
inference."""
