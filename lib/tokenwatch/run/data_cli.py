"""`tokenwatch data fetch`, `status` and `ensure`: fetching live prices on purpose, what the snapshot and the cache
hold and where they end, and a fresh clone getting the data the collection reads before `make report` runs."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from tokenwatch.errors import TokenwatchError
from tokenwatch.market.base import CALENDAR_REFERENCE
from tokenwatch.market.cache import Cache
from tokenwatch.market.fetch import Fetcher, FetchResult, Policy
from tokenwatch.params import as_date
from tokenwatch.paths import shown_path
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
    data.add_parser("status", help="list the snapshot's and the cache's symbols: first and last date, source, age")
    e = data.add_parser("ensure", help="make sure the collection has data: with no snapshot configured, fetch what "
                                       "the cache lacks (needs a network), else stop with how to get data")
    e.add_argument("--start", default="2024-01-01", help="first date wanted (default 2024-01-01)")
    e.add_argument("--no-progress", action="store_true")


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


def snapshot_status(root: Path) -> pd.DataFrame:
    """The snapshot's symbols with first and last date and source, read from its PROVENANCE.csv files (one row a
    symbol; spliced series give their first and last date and every source repository). The whole-market table
    (cn_all) is one row."""
    listed = universe().groupby("code")["market"].agg(set).to_dict()
    rows = []
    for prov in sorted(root.glob("*/PROVENANCE.csv")):
        market = prov.parent.name
        table = pd.read_csv(prov, dtype=str, keep_default_na=False)
        if not {"symbol", "first_date", "last_date"} <= set(table.columns):
            continue
        first = pd.to_datetime(table["first_date"], errors="coerce")
        last = pd.to_datetime(table["last_date"], errors="coerce")
        source = table.get("source_repo", pd.Series("", index=table.index))
        if market == "cn_all":
            rows.append({"market": market, "symbol": f"{table['symbol'].nunique():,} A-shares (whole market)",
                         "first": first.min().date(), "last": last.max().date(),
                         "source": ", ".join(dict.fromkeys(source))})
            continue
        for symbol, idx in table.groupby("symbol", sort=False).groups.items():
            known = listed.get(symbol, set())  # HSI sits in cn_index/ but is a Hong Kong index
            shown = market if market in known or len(known) != 1 else next(iter(known))
            rows.append({"market": market, "symbol": f"{shown}:{symbol}", "first": first[idx].min().date(),
                         "last": last[idx].max().date(), "source": ", ".join(dict.fromkeys(source[idx]))})
    return pd.DataFrame(rows, columns=["market", "symbol", "first", "last", "source"])


def _snapshot_root() -> Path | None:
    from tokenwatch.market.prices import SNAPSHOT_ENV

    snap = os.environ.get(SNAPSHOT_ENV, "").strip()
    return Path(snap) if snap else None


def cmd_status(args: argparse.Namespace) -> int:
    """What the snapshot and the cache hold: each symbol's first and last date and source; the cache's age."""
    root = _snapshot_root()
    if root is None:
        print("snapshot: none configured (set TOKENWATCH_SNAPSHOT to an offline snapshot folder)")
    elif not root.is_dir():
        print(f"snapshot: TOKENWATCH_SNAPSHOT names {shown_path(root)}, which is not a folder")
    else:
        snap = snapshot_status(root)
        ends = "; ".join(f"{m} to {g['last'].max()}" for m, g in snap.groupby("market", sort=False))
        print(f"snapshot {shown_path(root)}: {len(snap)} series; latest date by folder: {ends or 'none'}")
        if len(snap):
            print(snap.to_string(index=False, max_colwidth=60))
        print()
    cache = Cache()
    entries, problems = cache.entries()
    rows = [{"kind": e.kind, "symbol": str(e.symbol), "source": e.upstream, "rows": e.rows,
             "first": e.first.date() if e.first is not None else "",
             "last": e.last.date() if e.last is not None else "", "fetched (UTC)": f"{e.vintage:%Y-%m-%d %H:%M}",
             "age (days)": round(e.age.total_seconds() / 86_400, 1), "basis": e.price_basis} for e in entries]
    if not rows and not problems:
        print(f"cache {shown_path(cache.root)}: empty; fill it with `tokenwatch data fetch --universe compute_chain`")
        return 0
    if rows:
        print(f"cache {shown_path(cache.root)}: {len(rows)} entries")
        print(pd.DataFrame(rows).to_string(index=False))
    for p in problems:
        print(f"corrupt: {p}", file=sys.stderr)
    return 1 if problems else 0


# Hosts of the upstreams the adapters call (Eastmoney, Sina, Tencent): one answering means a network.
UPSTREAM_HOSTS = ("push2his.eastmoney.com", "hq.sinajs.cn", "web.ifzq.gtimg.cn")


def network_available(hosts: tuple[str, ...] = UPSTREAM_HOSTS, timeout: float = 3.0) -> bool:
    """True when one of the upstream hosts accepts a connection within `timeout` seconds."""
    for host in hosts:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def live_preflight() -> bool:
    """For `run --live`: say on the terminal, before any notebook runs, when no data source can be reached (each
    report says it too, in its findings). True when the network answers."""
    if network_available():
        return True
    print("notice: --live, but no data source can be reached (no network): prices come from the cache and the "
          "snapshot, and each report's findings say so", file=sys.stderr)
    return False


def collection_symbols() -> list[Symbol]:
    """What the notebooks read: every symbol of data/universe.csv and the calendar references."""
    table = universe()
    syms = [Symbol(m, c) for m, c in zip(table["market"], table["code"], strict=True)]
    refs = [CALENDAR_REFERENCE[m] for m in dict.fromkeys(s.market for s in syms)]
    return list(dict.fromkeys([*refs, *syms]))


NO_DATA = ("tokenwatch: no market data, so nothing was run. No offline snapshot is configured, the cache "
           "({cache}) lacks {missing} of the {total} symbols the notebooks read, and the data sources cannot be "
           "reached from here. Either point TOKENWATCH_SNAPSHOT at an offline snapshot (export "
           "TOKENWATCH_SNAPSHOT=/path/to/shared/market), or run `make report` again on a network (it fetches into "
           "the cache first; or `tokenwatch data fetch --universe all`). `tokenwatch data status` shows what is there.")


def cmd_ensure(args: argparse.Namespace) -> int:
    """With a snapshot configured: nothing to do. Else fetch into the cache what it lacks of the collection's
    symbols (politely, resumably: a symbol already cached is not asked for again), or, with no network, stop
    before anything runs with one message on how to get data."""
    root = _snapshot_root()
    if root is not None:
        if not root.is_dir():
            raise TokenwatchError(f"TOKENWATCH_SNAPSHOT names {shown_path(root)}, which is not a folder; point it at "
                                  "an offline snapshot, or unset it to fetch into the cache")
        return 0
    cache = Cache()
    wanted = collection_symbols()
    missing = [s for s in wanted if not cache.sources("daily", s)]
    if not missing:
        return 0
    if not network_available():
        print(NO_DATA.format(cache=shown_path(cache.root), missing=len(missing), total=len(wanted)), file=sys.stderr)
        return 2
    start = as_date("--start", args.start)
    end = pd.Timestamp.today().normalize()
    print(f"data: no snapshot configured; fetching {len(missing)} of {len(wanted)} symbols into the cache "
          f"{shown_path(cache.root)} (polite: {Policy.pause:g} s between calls, at most {Policy.per_minute} a minute; "
          "stop any time, the next run goes on from there)", file=sys.stderr)
    fetcher = Fetcher(cache, Policy())
    failed = []
    for sym in tqdm(missing, desc="fetching", unit="symbol", disable=args.no_progress, file=sys.stderr):
        result = fetcher.daily(sym, start, end)
        if result.status == "failed":
            failed.append(f"{sym}: {result.message}")
        else:
            fetcher.factors(sym)
    for line in failed:
        print(f"  not fetched: {line}", file=sys.stderr)
    if len(failed) == len(missing):
        print(NO_DATA.format(cache=shown_path(cache.root), missing=len(missing), total=len(wanted)), file=sys.stderr)
        return 2
    if failed:
        print(f"data: {len(failed)} symbol(s) not fetched; the notebooks that read them say so", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    return {"fetch": cmd_fetch, "status": cmd_status, "ensure": cmd_ensure}[args.data_command](args)
