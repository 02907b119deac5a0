"""The installed assay's version, read from its package metadata so that it is written in one place
(pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("assay")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
