"""The default projection's cell time: the pooled forecast-only backtest, its leave-one-series-out scoring and the
whole `build` of notebook 04 (series, whole, leader and the before/after view), with peak memory.

    python benchmarks/bench_projection.py [--series doubao] [--repeat 3] [--conditional]

`--conditional` adds every model under every scenario as conditional members (fitted at every cutoff), which the
default run leaves out. Prints the best of `repeat` runs of each step, the cells and the series pooled.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from collections.abc import Callable

import pandas as pd

from tokenwatch.methods import backtest as B
from tokenwatch.methods import projection as P
from tokenwatch.reports import token_projection as T
from tokenwatch.reports._base import collect_notices
from tokenwatch.tokens import load_ledger


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, int, object]:
    """Best seconds of `repeat` runs, the peak memory of one more (tracemalloc), and its result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", default="doubao")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--conditional", action="store_true", help="conditional scenario members as well")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    models = list(P.MODELS) if args.conditional else []
    ledger, scenarios = load_ledger(), P.load_scenarios()
    t_cells, m_cells, pool = timed(lambda: B.forecast_cells(ledger, models, scenarios), args.repeat)
    assert isinstance(pool, B.Cells)
    t_eval, m_eval, _ = timed(lambda: B.evaluated(pool), args.repeat)

    def build() -> object:
        with collect_notices():
            return T.project_series(args.series, T.AUTO, pd.Timestamp("2027-12-31"), models, [], vintages=3)

    t_all, m_all, _ = timed(build, args.repeat)
    print(f"{len(pool.cells)} forecast cells of {pool.cells['series'].nunique()} series, "
          f"{pool.preds.shape[1]} members{' (with conditional members)' if args.conditional else ''}")
    print(f"forecast cells:                   {t_cells:.2f} s, peak {m_cells / 2**20:.1f} MiB")
    print(f"scoring, leaving each series out: {t_eval:.2f} s, peak {m_eval / 2**20:.1f} MiB")
    print(f"notebook 04 build ({args.series}):    {t_all:.2f} s, peak {m_all / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
