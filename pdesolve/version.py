"""The package version (one place, read by pyproject and written into every file we make)."""

__version__ = "0.1.0"
