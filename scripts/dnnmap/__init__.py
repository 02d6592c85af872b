"""dnnmap: map deep neural network representations onto brain responses."""

__version__ = "0.1.0"
