"""One module per notebook, named by its run name, with its charts inside.

`RUNS` is the registry: the run name is the one key for a notebook (`notebooks/<file>`), its report
module (`tokenwatch.reports.<run name>`), its output folder and the `notebook` field of its summary.
Each module has `Params`, `build(params, source) -> Report` and the charts its notebook draws.
"""

from __future__ import annotations

import importlib
from types import ModuleType

RUNS: dict[str, str] = {
    "weekly_tracker": "01_weekly_tracker.ipynb",
    "rally_replay": "02_rally_replay.ipynb",
    "token_ledger": "03_token_ledger.ipynb",
    "token_projection": "04_token_projection.ipynb",
    "tokens_to_compute": "05_tokens_to_compute.ipynb",
    "domestic_chain": "06_domestic_chain.ipynb",
    "rating_scorecard": "07_rating_scorecard.ipynb",
    "token_catalysts": "08_token_catalysts.ipynb",
}


def report_module(run_name: str) -> ModuleType:
    """The report module of a run name."""
    if run_name not in RUNS:
        raise KeyError(f"no report named {run_name!r}; known: {', '.join(RUNS)}")
    return importlib.import_module(f"tokenwatch.reports.{run_name}")
