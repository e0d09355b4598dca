"""The `csslab` command."""
