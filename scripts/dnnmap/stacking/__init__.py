"""Stacked regression: per-voxel convex combinations of feature spaces' encoding models.

:mod:`~dnnmap.stacking.simplex` solves the convex weights of every voxel at once;
:mod:`~dnnmap.stacking.regression` holds the estimator and its outer cross-validation;
:mod:`~dnnmap.stacking.io` joins them to dnnmap's files; :mod:`~dnnmap.stacking.summary`
and :mod:`~dnnmap.stacking.plots` give the tables and the seed study's figure.
"""
