"""Whole-market week returns: vectorised path vs the plain per-symbol loop, in one run.

    TOKENWATCH_SNAPSHOT=../shared/market python benchmarks/bench_market.py [--week-end 2025-06-27] [--plain-sample 300]

Prints wall time and peak memory (tracemalloc) of each way, and their ratio. The plain way
loads each symbol through `load_series` and takes its week return; it is timed on a sample
and scaled to the whole market, which the output says.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from tokenwatch.market import default_source, load_series
from tokenwatch.market.snapshot import _load_all_cn, _read_table
from tokenwatch.market.whole_market import week_returns_all
from tokenwatch.sessions import trading_days, week_window
from tokenwatch.universe import Symbol


def measure(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def plain(codes, week_end, source):
    window = week_window(week_end, trading_days("cn", source))
    out = {}
    for code in codes:
        s = load_series(Symbol("cn", code), source)["adj_close"]
        out[code] = (s.loc[:window.end].iloc[-1] / s.loc[:window.prev_close].iloc[-1] - 1) * 100
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--week-end", default="2025-06-27")
    ap.add_argument("--plain-sample", type=int, default=300)
    args = ap.parse_args()
    source = default_source()
    trading_days("cn", source)  # calendar read once, outside both timings

    _load_all_cn.cache_clear()
    _read_table.cache_clear()
    table, fast_s, fast_mb = measure(lambda: week_returns_all(args.week_end, source))
    n = len(table)
    codes = table["code"].tolist()[: args.plain_sample]
    _load_all_cn.cache_clear()
    _read_table.cache_clear()
    result, plain_s, plain_mb = measure(lambda: plain(codes, args.week_end, source))
    plain_all = plain_s * n / len(codes)
    mismatch = max(abs(result[c] - v) for c, v in zip(table["code"], table["return_pct"], strict=False)
                   if c in result and v == v)
    print(f"symbols: {n}; week ending {args.week_end}")
    print(f"vectorised (week_returns_all): {fast_s:7.2f} s   peak {fast_mb:7.1f} MiB")
    print(f"plain loop (load_series each): {plain_s:7.2f} s for {len(codes)} symbols -> "
          f"{plain_all:7.1f} s scaled to {n}   peak {plain_mb:7.1f} MiB")
    print(f"ratio vectorised / plain (whole market): {fast_s / plain_all:.3f}")
    print(f"largest difference between the two ways: {mismatch:.2e} pp")


if __name__ == "__main__":
    main()
