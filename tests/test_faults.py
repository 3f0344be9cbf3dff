"""Corrupt, partial and hostile inputs end in a clear message or a visible flag, never a silent result."""

import re
import threading
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from conftest import flat_rows, write_bars

from tokenwatch.errors import DataValidationError, ParameterError, TokenwatchError
from tokenwatch.market import load_prices
from tokenwatch.market.cache import Cache, CacheCorruptError
from tokenwatch.market.snapshot import SnapshotSource
from tokenwatch.run.export import notebook_html
from tokenwatch.sessions import trading_days, week_window
from tokenwatch.universe import Symbol, load_basket

DAYS = ["2025-06-16", "2025-06-17", "2025-06-18", "2025-06-19", "2025-06-20"]


def _us(root: Path, adj: list[float] | None, name: str = "NVDA") -> None:
    rows = flat_rows(DAYS, [100.0, 101, 102, 103, 104])
    if adj is None:
        write_bars(root / "us" / f"{name}.csv", rows)
    else:
        write_bars(root / "us" / f"{name}.csv", [(*r, a) for r, a in zip(rows, adj, strict=True)], adj=True)


def test_a_negative_adj_close_is_refused(tiny_snapshot):
    _us(tiny_snapshot, [1.0, 1.0, -1.0, 1.0, 1.0])
    with pytest.raises(DataValidationError, match="us:NVDA on 2025-06-18: adj_close is zero or negative"):
        SnapshotSource(tiny_snapshot).daily(Symbol("us", "NVDA"))


def test_a_missing_adj_close_column_is_not_passed_off_as_adjusted(tiny_snapshot):
    _us(tiny_snapshot, None)
    with pytest.raises(DataValidationError, match="has no adj_close column"):
        load_prices(["us:NVDA"], source=SnapshotSource(tiny_snapshot))


def test_factors_promised_by_the_coverage_file_must_be_there(tiny_snapshot):
    (tiny_snapshot / "cn" / "ADJ_FACTORS.csv").unlink()
    with pytest.raises(DataValidationError, match="complete through 2025-06-26, but .*ADJ_FACTORS.csv is missing"):
        load_prices(["600001"], source=SnapshotSource(tiny_snapshot))


@pytest.mark.parametrize(("content", "message"), [
    ("", "is empty"),
    ("date,open,high,low,close,volume\n", "has a header but no rows"),
])
def test_empty_and_header_only_price_files_are_named(tiny_snapshot, content, message):
    (tiny_snapshot / "cn" / "600001.csv").write_text(content)
    with pytest.raises(DataValidationError, match=message):
        SnapshotSource(tiny_snapshot).daily(Symbol("cn", "600001"))


def test_corrupt_parquet_and_a_provenance_file_that_is_not_utf8(tiny_snapshot):
    (tiny_snapshot / "cn_all").mkdir()
    (tiny_snapshot / "cn_all" / "daily.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataValidationError, match=r"daily.parquet is not a readable parquet file"):
        SnapshotSource(tiny_snapshot).daily(Symbol("cn", "600777"))
    (tiny_snapshot / "cn" / "PROVENANCE.csv").write_bytes("symbol,source_repo\n600001,库\n".encode("gbk"))
    with pytest.raises(DataValidationError, match="PROVENANCE.csv is not UTF-8"):
        SnapshotSource(tiny_snapshot).daily(Symbol("cn", "600001"))


def test_a_close_from_before_the_weeks_end_carries_a_note(tiny_snapshot, tmp_path):
    from tokenwatch.reports.weekly_tracker import member_returns

    path = tiny_snapshot / "cn" / "600001.csv"
    frame = pd.read_csv(path, dtype=str)
    frame.loc[~frame["date"].isin(["2025-06-26", "2025-06-27"])].to_csv(path, index=False)  # data ends early
    source = SnapshotSource(tiny_snapshot)
    basket = load_basket(_basket(tmp_path, [("600001", "甲", "PCB")]))
    table, _ = member_returns(basket, week_window("2025-06-27", trading_days("cn", source)), source)
    assert table["status"].iloc[0] == "ok" and table["close_date"].iloc[0].isoformat() == "2025-06-25"
    assert "data ends 2025-06-25, before the week's last session 2025-06-27" in table["data_note"].iloc[0]


def _basket(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "basket.csv"
    pd.DataFrame([{"code": c, "name": n, "segment": s, "market": "cn"} for c, n, s in rows]).to_csv(path, index=False)
    return path


def test_a_missing_row_inside_the_data_is_named_too(tiny_snapshot, tmp_path):
    from tokenwatch.reports.weekly_tracker import member_returns

    path = tiny_snapshot / "cn" / "600001.csv"
    frame = pd.read_csv(path, dtype=str)
    frame.loc[frame["date"] != "2025-06-20"].to_csv(path, index=False)  # the week's last row, later rows kept
    source = SnapshotSource(tiny_snapshot)
    basket = load_basket(_basket(tmp_path, [("600001", "甲", "PCB")]))
    table, _ = member_returns(basket, week_window("2025-06-20", trading_days("cn", source)), source)
    assert "no row for 2025-06-20, the week's last session: this close is from 2025-06-19" in table["data_note"].iloc[0]


def test_headlines_carry_counts_and_a_week_with_no_data_fails(tiny_snapshot, tmp_path):
    from tokenwatch.errors import DataNotFoundError
    from tokenwatch.reports.weekly_tracker import track_week

    source = SnapshotSource(tiny_snapshot)
    window = week_window("2025-06-27", trading_days("cn", source))
    basket = _basket(tmp_path, [("600001", "甲", "PCB"), ("600002", "乙", "PCB")])
    report = track_week(str(basket), window, ["NVDA", "GSPC"], source=source)
    head = report.summary()["headline"]
    assert head["PCB mean %"].endswith("(1/2)")
    assert head["new highs"].startswith("none (1/2 with data; none for NVDA)")
    (tiny_snapshot / "us" / "GSPC.csv").unlink()
    assert track_week(str(basket), window, ["NVDA", "GSPC"], source=SnapshotSource(tiny_snapshot)).summary()[
        "headline"]["new highs"] == "no data for the week: NVDA, GSPC"
    nobody = _basket(tmp_path, [("600002", "乙", "PCB"), ("600003", "丙", "PCB")])
    with pytest.raises(DataNotFoundError, match="no member of basket .* has a return for the week"):
        track_week(str(nobody), window, ["NVDA"], source=source)


MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_exports_run_no_markup_from_data():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    styled = pd.DataFrame({"name": [MARKUP], "url": ["javascript:alert(2)"]}).style.format(
        {"url": lambda u: f'<a href="{u}">link</a>'}).to_html()
    nb.cells[0].outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": styled, "text/plain": "t"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": f"**{MARKUP}**", "text/plain": "m"}),
    ]
    for with_code in (False, True):
        page = notebook_html(nb, with_code=with_code)
        assert not re.search(r"<[^>]*onerror", page) and 'alert("x")</script>' not in page
        assert "javascript:alert" not in page
        assert "<table" in page and "&lt;script&gt;" in page  # the markdown's text is shown, as text


def test_unknown_accelerators_are_refused():
    from tokenwatch.methods import compute

    table = compute.load_accelerators()
    a = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H200": 1.0}, {MARKUP: 1.0})
    with pytest.raises(ParameterError, match="not in data/accelerators.csv"):
        a.check(table)


def test_oversized_parameters_are_refused_up_front():
    from tokenwatch.methods.forecast import check_memory

    with pytest.raises(ParameterError, match="basket .* characters"):
        load_basket("x" * 5000)
    with pytest.raises(ParameterError, match=r"paths=10,000,000,000 over 45 months and 15 forecasters needs about"):
        check_memory(10_000_000_000, 45, 15)
    check_memory(10_000, 45, 15)


def test_a_reader_never_quarantines_a_file_a_writer_is_replacing(tmp_path):
    cache, sym = Cache(tmp_path), Symbol("cn", "603228")
    stop, errors = threading.Event(), []

    def write() -> None:
        for n in range(1, 200):
            frame = pd.DataFrame({"close": [float(i) for i in range(n * 20)]},
                                 index=pd.date_range("2020-01-01", periods=n * 20, name="date"))
            cache.write("daily", sym, "em_a_hist", frame, upstream="u", price_basis="raw", akshare_version="x")
        stop.set()

    cache.write("daily", sym, "em_a_hist", pd.DataFrame({"close": [1.0]}, index=pd.DatetimeIndex(
        ["2020-01-01"], name="date")), upstream="u", price_basis="raw", akshare_version="x")
    writer = threading.Thread(target=write)
    writer.start()
    while not stop.is_set():
        try:
            cache.read("daily", sym, "em_a_hist")
        except CacheCorruptError as exc:
            errors.append(str(exc))
    writer.join()
    assert errors == []
    assert not list((tmp_path / "daily" / "cn").glob("*.corrupt-*"))
    assert cache.read("daily", sym, "em_a_hist")[1].rows == 199 * 20


def test_quarantine_tolerates_a_file_already_gone(tmp_path):
    assert Cache(tmp_path).quarantine(tmp_path / "gone.parquet") is None


def test_a_held_lock_is_named_with_what_it_waits_for(tmp_path, capsys):
    from filelock import FileLock

    cache, sym = Cache(tmp_path), Symbol("cn", "603228")
    with cache.lock("daily", sym):
        pass  # makes the folder
    holder = FileLock(str(tmp_path / "daily" / "cn" / ".603228.lock"))
    holder.acquire()
    result: list[BaseException] = []

    def wait() -> None:
        try:
            with cache.lock("daily", sym, timeout=1):
                pass
        except TokenwatchError as exc:
            result.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    t.join(30)
    holder.release()
    assert result and "held by another process writing the cached daily of cn:603228" in str(result[0])
    assert "waiting up to 1 s" in capsys.readouterr().err


def test_fetch_refuses_a_date_that_is_not_one(capsys):
    from tokenwatch.run.cli import main

    assert main(["data", "fetch", "NVDA", "--start", "2025-13-01"]) == 2
    assert "--start='2025-13-01' is not a date" in capsys.readouterr().err
