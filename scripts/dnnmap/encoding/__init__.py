"""Voxelwise encoding models: estimators, cross-validation, permutation tests, maps and
summaries."""
