"""csslab: continual semantic segmentation on MNIST-digit scenes."""

__version__ = "0.1.0"
