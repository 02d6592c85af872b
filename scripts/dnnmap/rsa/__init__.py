"""Representational similarity analysis: RDMs, comparisons, inference, reweighting and
searchlight."""
