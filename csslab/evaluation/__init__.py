"""Confusion matrices and the metrics read off them."""
