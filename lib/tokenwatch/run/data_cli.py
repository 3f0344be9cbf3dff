"""`tokenwatch data fetch` and `tokenwatch data status`: fetching live prices on purpose, and what is cached."""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from tqdm import tqdm

from tokenwatch.errors import TokenwatchError
from tokenwatch.market.base import CALENDAR_REFERENCE
from tokenwatch.market.cache import Cache
from tokenwatch.market.fetch import Fetcher, FetchResult, Policy
from tokenwatch.params import as_date
from tokenwatch.universe import Symbol, load_basket, parse_symbols, universe


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="fetch live prices into the cache, or show what it holds")
    data = p.add_subparsers(dest="data_command", required=True)
    f = data.add_parser("fetch", help="fetch daily prices (and ex-rights factors) through akshare into the cache")
    f.add_argument("symbols", nargs="*", help="codes such as 603228 NVDA cn_index:000300")
    f.add_argument("--universe", help="a basket in data/baskets/ (e.g. compute_chain) or 'all' (data/universe.csv)")
    f.add_argument("--start", default="2024-01-01", help="first date wanted (default 2024-01-01)")
    f.add_argument("--end", default=None, help="last date wanted (default today)")
    f.add_argument("--timeout", type=float, default=Policy.timeout, help="seconds per call")
    f.add_argument("--retries", type=int, default=Policy.retries, help="retries after a network failure")
    f.add_argument("--pause", type=float, default=Policy.pause, help="seconds between calls")
    f.add_argument("--per-minute", type=int, default=Policy.per_minute, help="calls at most per minute")
    f.add_argument("--no-progress", action="store_true")
    data.add_parser("status", help="list what the cache holds, from where, how old")


def _wanted(args: argparse.Namespace) -> list[Symbol]:
    if bool(args.symbols) == bool(args.universe):
        raise TokenwatchError("name symbols or give --universe NAME (a basket, or 'all'), not both")
    if args.symbols:
        syms = parse_symbols(args.symbols)
    elif args.universe == "all":
        table = universe()
        syms = [Symbol(m, c) for m, c in zip(table["market"], table["code"], strict=True)]
    else:
        syms = list(load_basket(args.universe)["symbol"])
    # the trading calendars come from reference series: fetch those for every market involved
    refs = [CALENDAR_REFERENCE[m] for m in dict.fromkeys(s.market for s in syms)]
    return list(dict.fromkeys([*refs, *syms]))


def cmd_fetch(args: argparse.Namespace) -> int:
    syms = _wanted(args)
    start = as_date("--start", args.start)
    end = as_date("--end", args.end) if args.end else pd.Timestamp.today().normalize()
    if start > end:
        raise TokenwatchError(f"--start {start.date()} is after --end {end.date()}")
    policy = Policy(timeout=args.timeout, retries=args.retries, pause=args.pause, per_minute=args.per_minute)
    fetcher = Fetcher(Cache(), policy)
    results: list[FetchResult] = []
    for sym in tqdm(syms, desc="fetching", unit="symbol", disable=args.no_progress, file=sys.stderr):
        results.append(fetcher.daily(sym, start, end))
        factors = fetcher.factors(sym) if results[-1].status != "failed" else None
        if factors is not None and factors.status in {"failed", "stale cache"}:
            results.append(factors)
    table = pd.DataFrame([{"symbol": str(r.symbol), "status": r.status, "source": r.source,
                           "rows added": r.rows_added, "note": r.message[:90]} for r in results])
    print(table.to_string(index=False))
    failed = [r for r in results if r.status == "failed"]
    stale = [r for r in results if r.status == "stale cache"]
    if stale:
        print(f"warning: {len(stale)} symbol(s) kept their cached copy; see the note column for its age",
              file=sys.stderr)
    if failed:
        print(f"tokenwatch: {len(failed)} symbol(s) failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.symbol}: {r.message}:", file=sys.stderr)
            for attempt in r.attempts:
                print(f"    - {attempt}", file=sys.stderr)
        return 1
    print(f"cache: {fetcher.cache.root}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    cache = Cache()
    entries, problems = cache.entries()
    rows = [{"kind": e.kind, "symbol": str(e.symbol), "source": e.upstream, "rows": e.rows,
             "first": e.first.date() if e.first is not None else "",
             "last": e.last.date() if e.last is not None else "", "fetched (UTC)": f"{e.vintage:%Y-%m-%d %H:%M}",
             "age (days)": round(e.age.total_seconds() / 86_400, 1), "basis": e.price_basis} for e in entries]
    if not rows and not problems:
        print(f"the cache at {cache.root} is empty; fill it with `tokenwatch data fetch --universe compute_chain`")
        return 0
    if rows:
        print(pd.DataFrame(rows).to_string(index=False))
    for p in problems:
        print(f"corrupt: {p}", file=sys.stderr)
    print(f"cache: {cache.root}")
    return 1 if problems else 0


def run(args: argparse.Namespace) -> int:
    return {"fetch": cmd_fetch, "status": cmd_status}[args.data_command](args)
