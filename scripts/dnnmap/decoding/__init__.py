"""Decoding stimulus attributes from layers or brain regions, and layer probing profiles."""
