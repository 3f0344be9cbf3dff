"""`tokenwatch data status` (snapshot and cache: first and last date, source) and `tokenwatch data ensure` (a fresh
clone gets its data by itself, or stops before running anything), with a stand-in for akshare (CI has no network)."""

import datetime as dt

import pandas as pd
import pytest

from tokenwatch.market.cache import Cache
from tokenwatch.market.fetch import Fetcher, Policy
from tokenwatch.run import data_cli
from tokenwatch.run.cli import main
from tokenwatch.universe import Symbol

DAYS = [dt.date(2025, 6, 23), dt.date(2025, 6, 24), dt.date(2025, 6, 25)]
ZH = {"日期": DAYS, "开盘": [10.0, 10.5, 11.0], "最高": [10.5, 11.0, 11.5], "最低": [9.5, 10.0, 10.5],
      "收盘": [10.0, 10.5, 11.0], "成交量": [1000.0, 2000.0, 3000.0], "成交额": 1.0, "振幅": 1.0, "涨跌幅": 1.0,
      "涨跌额": 0.1, "换手率": 0.5}
WANTED = [Symbol("cn_index", "000300"), Symbol("cn", "603228"), Symbol("cn", "300476")]


class StandInAk:
    """akshare as Eastmoney answers it, one frame a function, every call counted."""

    def __init__(self):
        self.calls: list[str] = []

    def __getattr__(self, name):
        frames = {"stock_zh_a_hist": lambda: pd.DataFrame(ZH).assign(股票代码="x"),
                  "index_zh_a_hist": lambda: pd.DataFrame(ZH),
                  "stock_zh_a_daily": lambda: pd.DataFrame({"date": ["1900-01-01"], "hfq_factor": ["1.0"]})}
        if name not in frames:
            raise AttributeError(name)

        def fn(**kwargs):
            self.calls.append(name)
            return frames[name]()
        return fn


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch):
    """No snapshot configured, an empty cache, the collection reduced to three symbols, no real network."""
    monkeypatch.delenv("TOKENWATCH_SNAPSHOT", raising=False)
    monkeypatch.setenv("TOKENWATCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_cli, "collection_symbols", lambda: list(WANTED))
    ak = StandInAk()

    class StandInFetcher(Fetcher):
        def __init__(self, cache, policy):
            super().__init__(cache, Policy(pause=0, jitter=0), ak=ak, sleep=lambda s: None)

    monkeypatch.setattr(data_cli, "Fetcher", StandInFetcher)
    return ak


def test_no_network_and_no_snapshot_stops_before_running_with_one_message(fresh_clone, monkeypatch, capsys):
    monkeypatch.setattr(data_cli, "network_available", lambda *a, **k: False)
    assert main(["data", "ensure", "--no-progress"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1
    assert "no market data, so nothing was run" in out.err and "TOKENWATCH_SNAPSHOT" in out.err
    assert "lacks 3 of the 3 symbols" in out.err and fresh_clone.calls == []


def test_with_a_network_the_cache_is_filled_then_a_second_run_asks_for_nothing(fresh_clone, monkeypatch, capsys):
    monkeypatch.setattr(data_cli, "network_available", lambda *a, **k: True)
    assert main(["data", "ensure", "--no-progress"]) == 0
    cache = Cache()
    assert all(cache.sources("daily", s) for s in WANTED)
    assert fresh_clone.calls.count("stock_zh_a_hist") == 2 and fresh_clone.calls.count("index_zh_a_hist") == 1
    assert "fetching 3 of 3 symbols into the cache" in capsys.readouterr().err
    before = len(fresh_clone.calls)
    assert main(["data", "ensure", "--no-progress"]) == 0  # resumable: what is cached is not asked for again
    assert len(fresh_clone.calls) == before


def test_an_interrupted_fetch_goes_on_from_where_it_stopped(fresh_clone, monkeypatch):
    monkeypatch.setattr(data_cli, "network_available", lambda *a, **k: True)
    Fetcher(Cache(), Policy(pause=0), ak=fresh_clone, sleep=lambda s: None).daily(
        WANTED[1], pd.Timestamp("2024-01-01"), pd.Timestamp("2025-06-25"))
    fresh_clone.calls.clear()
    assert main(["data", "ensure", "--no-progress"]) == 0
    assert fresh_clone.calls.count("stock_zh_a_hist") == 1  # only 300476: 603228 was already there


def test_a_configured_snapshot_needs_nothing(tiny_snapshot, fresh_clone, monkeypatch):
    monkeypatch.setenv("TOKENWATCH_SNAPSHOT", str(tiny_snapshot))
    monkeypatch.setattr(data_cli, "network_available", lambda *a, **k: pytest.fail("no probe needed"))
    assert main(["data", "ensure"]) == 0 and fresh_clone.calls == []


def test_status_lists_the_snapshot_with_first_and_last_dates_and_source(tiny_snapshot, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TOKENWATCH_CACHE", str(tmp_path / "emptycache"))
    pd.DataFrame([{"symbol": "600001", "source_repo": "a/one", "first_date": "2025-06-13", "last_date": "2025-06-20"},
                  {"symbol": "600001", "source_repo": "b/two", "first_date": "2025-06-23", "last_date": "2025-06-27"},
                  {"symbol": "HSI", "source_repo": "c/hk", "first_date": "2025-06-13", "last_date": "2025-06-26"}]
                 ).to_csv(tiny_snapshot / "cn" / "PROVENANCE.csv", index=False)
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "latest date by folder: cn to 2025-06-27" in out
    row = next(line for line in out.splitlines() if "cn:600001" in line)
    assert "2025-06-13" in row and "2025-06-27" in row and "a/one, b/two" in row
    assert "hk_index:HSI" in out  # named by its market in the universe, not by the folder it sits in
    assert "cache emptycache/: empty" in out
