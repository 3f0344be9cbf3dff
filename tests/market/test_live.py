"""Live data without a network: akshare adapters on frames shaped like its output, the cache, fetching."""

import datetime as dt
import inspect
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from tokenwatch.market import load_prices
from tokenwatch.market.adjust import cumulative_factor
from tokenwatch.market.akshare_adapters import (
    ADAPTERS,
    AKSHARE_VERSION,
    FACTOR_FUNCTIONS,
    US_CODE_LOOKUP,
    UpstreamSchemaError,
    chain,
    factor_steps,
    us_adjusted_close,
)
from tokenwatch.market.cache import Cache, CacheCorruptError
from tokenwatch.market.fetch import (
    Fetcher,
    FetchTimeout,
    Policy,
    Throttle,
    call_with_timeout,
    classify,
)
from tokenwatch.market.sources import CachedSource, ChainSource
from tokenwatch.run import data_cli
from tokenwatch.run.cli import main
from tokenwatch.universe import Symbol

DAYS = [dt.date(2025, 6, 23), dt.date(2025, 6, 24), dt.date(2025, 6, 25)]
CLOSES = [10.0, 10.5, 11.0]


def test_the_pinned_akshare_has_every_function_with_the_arguments_we_pass():
    import akshare

    assert akshare.__version__ == AKSHARE_VERSION
    calls = [(a.function, a.kwargs(Symbol("cn", "603228") if a.function.startswith(("stock_zh", "index_zh"))
                                    else Symbol("us", "GSPC"), "20250101", "20250630")) for a in ADAPTERS.values()]
    calls += [(f, k(Symbol("cn", "603228"))) for f, _, k in FACTOR_FUNCTIONS.values()]
    calls += [(US_CODE_LOOKUP, {})]
    for function, kwargs in calls:
        fn = getattr(akshare, function)  # AttributeError if the pinned version lacks it
        inspect.signature(fn).bind(**kwargs)  # TypeError if an argument name is wrong


def _bars(date_col: str, names: dict[str, str], volume: list[float] | None = None, dates=DAYS) -> pd.DataFrame:
    """A frame with akshare's column names for date/open/high/low/close/volume."""
    n = len(dates)
    frame = pd.DataFrame({date_col: dates, names["open"]: CLOSES[:n], names["high"]: [c + 0.5 for c in CLOSES[:n]],
                          names["low"]: [c - 0.5 for c in CLOSES[:n]], names["close"]: CLOSES[:n]})
    frame[names["volume"]] = volume or [1000.0, 2000.0, 3000.0][:n]
    return frame


ZH = {"open": "开盘", "high": "最高", "low": "最低", "close": "收盘", "volume": "成交量"}
EN = {k: k for k in ZH}

# one frame per adapter, shaped like the function's documented output in akshare 1.19.5
SHAPES = {
    "em_a_hist": (_bars("日期", ZH).assign(股票代码="603228", 成交额=1.0, 振幅=1.0, 涨跌幅=1.0, 涨跌额=0.1,
                                        换手率=0.5), 100),
    "tx_a_hist": (_bars("date", EN).assign(turnover=0.1, amount=1e6).set_index(
        pd.to_datetime(pd.Series(DAYS)), drop=False), 1),
    "sina_a_daily": (_bars("date", EN).assign(amount=1e6, outstanding_share=1e8, turnover=0.01), 1),
    "em_index_hist": (_bars("日期", ZH).assign(成交额=1.0, 振幅=1.0, 涨跌幅=1.0, 涨跌额=0.1, 换手率=0.5), 100),
    "sina_index_daily": (_bars("date", EN), 1),
    "sw_index_hist": (_bars("日期", ZH).assign(代码="801080", 成交额=1.0).astype({"开盘": str}), 1),
    "sina_etf_hist": (_bars("date", EN), 1),
    "sina_hk_index": (_bars("date", EN), 1),
    "sina_us_daily": (_bars("date", EN), 1),
    "em_us_hist": (_bars("日期", ZH).assign(成交额=1.0, 振幅=1.0, 涨跌幅=1.0, 涨跌额=0.1, 换手率=0.5), 1),
    "sina_us_index": (_bars("date", EN).assign(amount=1.0), 1),
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_each_adapter_maps_its_function_output_to_the_tidy_schema(name):
    raw, volume_factor = SHAPES[name]
    tidy = ADAPTERS[name].tidy(raw, Symbol("cn", "603228"))
    assert list(tidy.columns) == ["open", "high", "low", "close", "volume"]
    assert list(tidy.index) == list(pd.to_datetime(DAYS)) and tidy.index.name == "date"
    assert tidy["close"].tolist() == CLOSES and tidy["open"].dtype == float
    assert tidy["volume"].tolist() == [1000.0 * volume_factor, 2000.0 * volume_factor, 3000.0 * volume_factor]


def test_a_renamed_upstream_column_is_reported_as_a_schema_change():
    raw = _bars("日期", ZH).rename(columns={"收盘": "收盘价格"})
    with pytest.raises(UpstreamSchemaError, match=f"schema changed \\(akshare {AKSHARE_VERSION}\\)"):
        ADAPTERS["em_a_hist"].tidy(raw, Symbol("cn", "603228"))
    assert classify(ValueError("Length mismatch: Expected axis has 11 elements"))[1] is False
    assert "schema changed" in classify(ValueError("Length mismatch: Expected axis has 11 elements"))[0]
    assert classify(requests.exceptions.ConnectionError("host='x.com' Failed to resolve"))[1] is True


def test_sina_factors_reproduce_the_snapshot_adjustment(snapshot):
    sym = Symbol("cn", "688519")
    steps = snapshot.adj_factors(sym)
    assert len(steps)
    # Sina publishes the cumulative back-adjustment factor from 1900-01-01, newest first
    cum = np.cumprod(np.concatenate([[1.0], steps["factor"].to_numpy()]))
    raw = pd.DataFrame({"date": ["1900-01-01", *steps["ex_date"].dt.strftime("%Y-%m-%d")],
                        "hfq_factor": [f"{c:.10f}" for c in cum]}).iloc[::-1]
    got = factor_steps(raw, sym)
    assert np.allclose(got["factor"], steps["factor"].to_numpy(), rtol=1e-9)
    days = snapshot.daily(sym).frame.index
    assert np.allclose(cumulative_factor(days, got), cumulative_factor(days, steps), rtol=1e-9)


def test_us_forward_adjustment_follows_akshare():
    daily = pd.DataFrame({"close": [100.0, 50.0, 51.0]}, index=pd.to_datetime(["2024-06-07", "2024-06-10",
                                                                               "2024-06-11"]))
    factors = pd.DataFrame({"date": ["2024-06-10", "1900-01-01"], "qfq_factor": [1.0, 0.5], "adjust": [0.0, 0.0]})
    assert us_adjusted_close(daily, factors).tolist() == [50.0, 50.0, 51.0]  # a 2:1 split removed


class FakeAk:
    """Stands in for the akshare module: each function name maps to a list of outcomes, used in turn."""

    def __init__(self, **outcomes):
        self.outcomes = {k: list(v) for k, v in outcomes.items()}
        self.calls: list[tuple[str, dict]] = []

    def __getattr__(self, name):
        if name not in self.__dict__.get("outcomes", {}):
            raise AttributeError(name)

        def fn(**kwargs):
            self.calls.append((name, kwargs))
            out = self.outcomes[name].pop(0) if len(self.outcomes[name]) > 1 else self.outcomes[name][0]
            if isinstance(out, BaseException):
                raise out
            return out() if callable(out) else out
        return fn


def _fetcher(tmp_path: Path, ak: FakeAk, **policy) -> tuple[Fetcher, list[float]]:
    slept: list[float] = []
    p = Policy(**{"timeout": 2.0, "retries": 2, "backoff": 1.0, "jitter": 0.0, "pause": 0.0, **policy})
    return Fetcher(Cache(tmp_path / "cache"), p, ak=ak, sleep=slept.append), slept


STOCK = Symbol("cn", "603228")
START, END = pd.Timestamp("2025-06-23"), pd.Timestamp("2025-06-25")
OFFLINE = requests.exceptions.ConnectionError("HTTPSConnectionPool(host='push2his.eastmoney.com', port=443): "
                                              "Failed to resolve")


def test_a_dropped_connection_is_retried_then_the_next_source_is_used(tmp_path):
    ak = FakeAk(stock_zh_a_hist=[OFFLINE], stock_zh_a_hist_tx=[SHAPES["tx_a_hist"][0]])
    f, slept = _fetcher(tmp_path, ak)
    result = f.daily(STOCK, START, END)
    assert result.status == "fetched" and result.source == "tx_a_hist" and result.rows_added == 3
    assert [c[0] for c in ak.calls] == ["stock_zh_a_hist"] * 3 + ["stock_zh_a_hist_tx"]
    assert slept == [1.0, 2.0]  # exponential backoff (jitter 0 here)
    assert "push2his.eastmoney.com: its name does not resolve" in result.attempts[0]
    frame, entry = f.cache.read("daily", STOCK, "tx_a_hist")
    assert frame["close"].tolist() == CLOSES and entry.akshare_version == AKSHARE_VERSION


def test_an_unreachable_upstream_is_skipped_for_later_symbols(tmp_path):
    ak = FakeAk(stock_zh_a_hist=[OFFLINE], stock_zh_a_hist_tx=[SHAPES["tx_a_hist"][0]])
    f, _ = _fetcher(tmp_path, ak, retries=1)
    f.daily(STOCK, START, END)
    second = f.daily(Symbol("cn", "600601"), START, END)
    assert second.status == "fetched" and "skipped, Eastmoney was unreachable" in second.attempts[0]
    assert [c[0] for c in ak.calls].count("stock_zh_a_hist") == 2  # the first symbol's try and one retry


def test_eastmoney_us_codes_are_looked_up_once(tmp_path):
    codes = pd.DataFrame({"序号": [1, 2], "名称": ["英伟达", "甲骨文"], "代码": ["105.NVDA", "106.ORCL"]})
    ak = FakeAk(stock_us_daily=[OFFLINE], stock_us_spot_em=[codes], stock_us_hist=[SHAPES["em_us_hist"][0]])
    f, _ = _fetcher(tmp_path, ak, retries=0)
    for ticker, code in (("NVDA", "105.NVDA"), ("ORCL", "106.ORCL")):
        assert f.daily(Symbol("us", ticker), START, END).source == "em_us_hist"
        assert ak.calls[-1] == ("stock_us_hist", {"symbol": code, "period": "daily", "start_date": "20250623",
                                                  "end_date": "20250625", "adjust": "hfq"})
    assert [c[0] for c in ak.calls].count("stock_us_spot_em") == 1


def test_a_schema_change_is_not_retried(tmp_path):
    renamed = SHAPES["em_a_hist"][0].rename(columns={"收盘": "收市"})
    ak = FakeAk(stock_zh_a_hist=[renamed], stock_zh_a_hist_tx=[OFFLINE], stock_zh_a_daily=[OFFLINE])
    f, _ = _fetcher(tmp_path, ak, retries=0)
    result = f.daily(STOCK, START, END)
    assert result.status == "failed" and len(result.attempts) == 3
    assert "schema changed (akshare 1.19.5)" in result.attempts[0]
    assert [c[0] for c in ak.calls].count("stock_zh_a_hist") == 1


def test_every_source_failing_uses_the_cache_with_its_age_or_fails_clearly(tmp_path):
    good = FakeAk(stock_zh_a_hist=[SHAPES["em_a_hist"][0]])
    f, _ = _fetcher(tmp_path, good)
    assert f.daily(STOCK, START, END).status == "fetched"
    down = FakeAk(stock_zh_a_hist=[OFFLINE], stock_zh_a_hist_tx=[OFFLINE], stock_zh_a_daily=[OFFLINE])
    f2, _ = _fetcher(tmp_path, down, retries=0)
    stale = f2.daily(STOCK, START, pd.Timestamp("2025-06-30"))
    assert stale.status == "stale cache" and "days old" in stale.message and "fetched 20" in stale.message
    nothing = f2.daily(Symbol("cn", "600601"), START, END)
    assert nothing.status == "failed" and "nothing cached" in nothing.message
    assert all("its name does not resolve" in a for a in nothing.attempts)


def test_a_second_fetch_asks_only_for_the_missing_days(tmp_path):
    first = SHAPES["em_a_hist"][0]
    later = _bars("日期", ZH, dates=[dt.date(2025, 6, 26)]).assign(股票代码="603228")
    ak = FakeAk(stock_zh_a_hist=[first, later])
    f, _ = _fetcher(tmp_path, ak)
    f.daily(STOCK, START, END)
    assert f.daily(STOCK, START, END).status == "up to date" and len(ak.calls) == 1
    result = f.daily(STOCK, START, pd.Timestamp("2025-06-26"))
    assert result.rows_added == 1 and ak.calls[-1][1]["start_date"] == "20250626"
    frame, _ = f.cache.read("daily", STOCK, "em_a_hist")
    assert len(frame) == 4 and frame.index.is_monotonic_increasing


def test_a_call_that_hangs_ends_at_its_timeout():
    t0 = time.monotonic()
    with pytest.raises(FetchTimeout, match="no answer within 0.2 s"):
        call_with_timeout(lambda: time.sleep(5), {}, 0.2)
    assert time.monotonic() - t0 < 1.5


def test_the_throttle_pauses_and_caps_calls_per_minute():
    now = [0.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    t = Throttle(Policy(pause=1.0, per_minute=3), clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        t.wait()
    assert slept == [1.0, 1.0, 1.0, 57.0]  # three calls a second apart, then wait until 60 s after the first
    assert t.calls[-1] == 60.0


def test_a_corrupt_cache_file_is_detected_moved_aside_and_refetched(tmp_path):
    ak = FakeAk(stock_zh_a_hist=[SHAPES["em_a_hist"][0]])
    f, _ = _fetcher(tmp_path, ak)
    f.daily(STOCK, START, END)
    path = f.cache.path("daily", STOCK, "em_a_hist")
    path.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.raises(CacheCorruptError, match="unreadable"):
        f.cache.read("daily", STOCK, "em_a_hist")
    assert not path.exists() and list(path.parent.glob("*.corrupt-*"))
    result = f.daily(STOCK, START, END)
    assert result.status == "fetched" and result.rows_added == 3  # the whole range again


def test_a_changed_byte_fails_the_checksum(tmp_path):
    cache = Cache(tmp_path)
    frame = ADAPTERS["em_a_hist"].tidy(SHAPES["em_a_hist"][0], STOCK)
    cache.write("daily", STOCK, "em_a_hist", frame, upstream="u", price_basis="raw", akshare_version="x")
    import pyarrow.parquet as pq

    table = pq.read_table(cache.path("daily", STOCK, "em_a_hist"))
    altered = table.to_pandas()
    altered.iloc[0, altered.columns.get_loc("close")] = 99.0
    import pyarrow as pa

    pq.write_table(pa.Table.from_pandas(altered).replace_schema_metadata(table.schema.metadata),
                   cache.path("daily", STOCK, "em_a_hist"))
    with pytest.raises(CacheCorruptError, match="checksum"):
        cache.read("daily", STOCK, "em_a_hist")


WRITER = """
import sys, pandas as pd
from tokenwatch.market.cache import Cache
from tokenwatch.universe import Symbol
cache, sym, offset = Cache(sys.argv[1]), Symbol("cn", "603228"), int(sys.argv[2])
for i in range(15):
    day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=2 * i + offset)
    new = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]},
                       index=pd.DatetimeIndex([day], name="date"))
    with cache.lock("daily", sym):
        try:
            old, _ = cache.read("daily", sym, "em_a_hist")
        except Exception:
            old = new.iloc[0:0]
        cache.write("daily", sym, "em_a_hist", pd.concat([old, new]).sort_index(), upstream="u",
                    price_basis="raw", akshare_version="x")
"""


def test_two_processes_fetching_at_once_lose_nothing(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(k)]) for k in (0, 1)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    frame, entry = Cache(tmp_path).read("daily", STOCK, "em_a_hist")
    assert len(frame) == 30 and entry.rows == 30  # every write of both processes survived
    assert not list((tmp_path / "daily" / "cn").glob("*.tmp"))


def test_cached_prices_come_first_and_the_snapshot_fills_in(snapshot, tmp_path):
    ak = FakeAk(stock_zh_a_hist=[_bars("日期", ZH, dates=[dt.date(2026, 7, d) for d in (1, 2, 3)])])
    f, _ = _fetcher(tmp_path, ak)
    f.daily(STOCK, pd.Timestamp("2026-07-01"), pd.Timestamp("2026-07-03"))
    source = ChainSource([CachedSource(f.cache), snapshot])
    july = source.daily_in(STOCK, pd.Timestamp("2026-07-01"), pd.Timestamp("2026-07-03"))
    assert july.frame.index[-1] == pd.Timestamp("2026-07-03")
    assert "cache (akshare stock_zh_a_hist (Eastmoney))" in july.source
    # the whole history: the snapshot holds more of it, and the three cached days it lacks are named
    with pytest.warns(UserWarning, match="holds 3 day"):
        whole = source.daily(STOCK)
    assert whole.source.startswith("snapshot") and "2026-07-01..2026-07-03), not used" in whole.price_basis
    assert source.daily(Symbol("us", "NVDA")).source.startswith("snapshot")
    p = load_prices(["603228"], "2026-07-01", "2026-07-03", source=source)
    assert p.close(adjusted=False)["603228"].tolist() == CLOSES
    assert "fetched" in p.provenance["price_basis"].iloc[0]


def test_fetch_command_with_no_network_ends_in_time_with_the_sources_tried(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKENWATCH_CACHE", str(tmp_path / "cache"))
    down = FakeAk(**{a.function: [OFFLINE] for a in ADAPTERS.values()})

    class OfflineFetcher(Fetcher):
        def __init__(self, cache, policy):
            super().__init__(cache, policy, ak=down, sleep=lambda s: None)

    monkeypatch.setattr(data_cli, "Fetcher", OfflineFetcher)
    t0 = time.monotonic()
    code = main(["data", "fetch", "603228", "NVDA", "--timeout", "1", "--pause", "0", "--no-progress"])
    assert code == 1 and time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    for text in ("cn:603228: daily: nothing cached", "akshare stock_zh_a_hist (Eastmoney)",
                 "akshare stock_zh_a_hist_tx (Tencent)", "akshare stock_zh_a_daily (Sina)",
                 "us:GSPC", "its name does not resolve"):
        assert text in err
    assert main(["data", "status"]) == 0


def test_status_lists_what_is_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKENWATCH_CACHE", str(tmp_path / "cache"))
    f, _ = _fetcher(tmp_path, FakeAk(stock_zh_a_hist=[SHAPES["em_a_hist"][0]]))
    f.daily(STOCK, START, END)
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "cn:603228" in out and "akshare stock_zh_a_hist (Eastmoney)" in out and "2025-06-25" in out
    assert chain(Symbol("cn_index", "801080")) == ["sw_index_hist"] and chain(Symbol("us", "GSPC")) == ["sina_us_index"]


def test_live_mode_fetches_a_missing_symbol_once_then_reads_the_cache(tmp_path):
    ak = FakeAk(stock_zh_a_hist=[SHAPES["em_a_hist"][0]], stock_zh_a_daily=[pd.DataFrame(
        {"date": ["1900-01-01", "2025-06-24"], "hfq_factor": ["1.0", "1.25"]})])
    f, _ = _fetcher(tmp_path, ak)
    source = CachedSource(f.cache, fetcher=f, live_start="2025-06-23")
    data = source.daily(STOCK)
    assert data.frame["close"].tolist() == CLOSES
    factors = source.adj_factors(STOCK)
    assert factors["ex_date"].tolist() == [pd.Timestamp("2025-06-24")] and factors["factor"].tolist() == [1.25]
    source.daily(STOCK)
    assert [c[0] for c in ak.calls] == ["stock_zh_a_hist", "stock_zh_a_daily"]  # the second read is offline


def test_status_reports_a_corrupt_file_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKENWATCH_CACHE", str(tmp_path / "cache"))
    f, _ = _fetcher(tmp_path, FakeAk(stock_zh_a_hist=[SHAPES["em_a_hist"][0]]))
    f.daily(STOCK, START, END)
    path = f.cache.path("daily", STOCK, "em_a_hist")
    path.write_bytes(b"not parquet")
    assert main(["data", "status"]) == 1
    assert "corrupt:" in capsys.readouterr().err and list(path.parent.glob("*.corrupt-*"))


def test_a_partial_cache_entry_does_not_hide_the_snapshot(snapshot, tmp_path):
    from tokenwatch.reports.weekly_tracker import member_returns
    from tokenwatch.sessions import trading_days, week_window

    ak = FakeAk(stock_zh_a_hist=[_bars("日期", ZH, dates=[dt.date(2026, 7, d) for d in (1, 2, 3)])])
    f, _ = _fetcher(tmp_path, ak)
    f.daily(STOCK, pd.Timestamp("2026-07-01"), pd.Timestamp("2026-07-03"))
    source = ChainSource([CachedSource(f.cache), snapshot])
    basket = pd.DataFrame({"code": ["603228"], "name": ["景旺电子"], "segment": ["PCB"], "market": ["cn"],
                           "symbol": [STOCK]})
    window = week_window("2025-06-27", trading_days("cn", snapshot))
    with pytest.warns(UserWarning, match="not used"):
        table, _ = member_returns(basket, window, source)
    assert table["status"].iloc[0] == "ok" and round(table["return_pct"].iloc[0], 2) == 22.63


def test_an_unreachable_upstream_is_shared_by_the_kernels_of_one_run_factors_included(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENWATCH_DOWN_FILE", str(tmp_path / "down.jsonl"))
    down = FakeAk(**{a.function: [OFFLINE] * 20 for a in ADAPTERS.values()})
    first, _ = _fetcher(tmp_path, down)
    assert first.factors(STOCK).status == "failed"  # Sina unreachable: recorded for the whole run
    calls = len(down.calls)
    second, _ = _fetcher(tmp_path, down)  # another kernel of the same run
    result = second.factors(STOCK)
    assert result.status == "failed" and "skipped, unreachable earlier in this run" in result.attempts[0]
    assert len(down.calls) == calls  # no second wait on the same upstream


def test_a_failed_live_fetch_says_the_snapshot_served_instead(snapshot, tmp_path):
    down = FakeAk(**{a.function: [OFFLINE] * 20 for a in ADAPTERS.values()})
    f, _ = _fetcher(tmp_path, down)
    source = ChainSource([CachedSource(f.cache, f), snapshot])
    with pytest.warns(UserWarning, match="live fetch of cn:603228 failed"):
        data = source.daily_in(STOCK, pd.Timestamp("2025-06-20"), pd.Timestamp("2025-06-27"))
    assert data.source.startswith("snapshot") and "live fetch of cn:603228 failed" in data.price_basis
