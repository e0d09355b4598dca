"""The package version (as in pyproject.toml), in a module of its own so that any module can record it
without importing the package root (which imports the API, which imports training)."""

__version__ = "0.1.0"
