"""rlit's version (pyproject.toml says the same): recorded in manifests and results files."""

__version__ = "0.1.0"
