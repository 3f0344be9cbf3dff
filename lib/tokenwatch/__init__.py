"""tokenwatch: research notebooks on the AI-compute supply chain."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tokenwatch")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
