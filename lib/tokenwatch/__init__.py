"""tokenwatch: research notebooks on the AI-compute supply chain."""

import sys
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tokenwatch")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

if "IPython" in sys.modules:  # in a kernel (JupyterLab, papermill, nbconvert): the project's errors in one line
    from tokenwatch.errors import show_short_errors

    show_short_errors()
