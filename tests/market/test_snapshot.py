"""The snapshot source on synthetic folders: parsing, validation and error messages."""

import pandas as pd
import pytest

from tokenwatch.errors import DataNotFoundError, DataValidationError, NoSourceError, OutOfRangeError
from tokenwatch.market import SNAPSHOT_ENV, SnapshotSource, default_source, load_prices
from tokenwatch.market.validate import validate_daily
from tokenwatch.universe import Symbol


def _bars(**overrides):
    frame = pd.DataFrame({"open": [10.0, 11.0], "high": [10.5, 11.5], "low": [9.5, 10.5], "close": [10.2, 11.2],
                          "volume": [1.0, 2.0]}, index=pd.DatetimeIndex(["2025-01-02", "2025-01-03"], name="date"))
    for col, (i, v) in overrides.items():
        frame.iloc[i, frame.columns.get_loc(col)] = v
    return frame


@pytest.mark.parametrize(("override", "message"), [
    ({"close": (1, -1.0)}, "2025-01-03: a price is zero or negative"),
    ({"high": (0, 10.1)}, "2025-01-02: high is below open or close"),
    ({"low": (1, 11.1)}, "2025-01-03: low is above open or close"),
    ({"open": (0, float("nan"))}, "2025-01-02: a price is missing"),
])
def test_validation_names_symbol_and_date(override, message):
    with pytest.raises(DataValidationError, match=f"cn:1 on {message}"):
        validate_daily(_bars(**override), "cn:1")


def test_validation_catches_duplicate_and_unsorted_dates():
    frame = _bars()
    with pytest.raises(DataValidationError, match="2025-01-02 appears more than once"):
        validate_daily(frame.set_axis(pd.DatetimeIndex(["2025-01-02"] * 2, name="date")), "x")
    with pytest.raises(DataValidationError, match="not sorted"):
        validate_daily(frame.iloc[::-1], "x")
    validate_daily(frame.assign(volume=[None, None]), "x")  # indices have no volume: allowed


def test_missing_snapshot_folder_and_no_source(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="does not exist; point TOKENWATCH_SNAPSHOT"):
        SnapshotSource(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match="holds none of"):
        SnapshotSource(tmp_path)
    monkeypatch.delenv(SNAPSHOT_ENV, raising=False)
    with pytest.raises(NoSourceError, match="export TOKENWATCH_SNAPSHOT="):
        default_source()


def test_malformed_csv_names_file_and_line(tiny_snapshot):
    path = tiny_snapshot / "cn" / "600002.csv"
    path.write_text("date,open,high,low,close,volume\n2025-06-13,1,1,1,1,1\n2025/06/16,1,1,1,1,1\n")
    with pytest.raises(DataValidationError, match="line 3: date '2025/06/16'"):
        load_prices(["600002"])
    path.write_text("date,open,high,low,close,volume\n2025-06-13,1,1,1,abc,1\n")
    with pytest.raises(DataValidationError, match="line 2: close 'abc' is not a number"):
        load_prices(["600002"])
    path.write_text("date,open,high,close\n2025-06-13,1,1,1\n")
    with pytest.raises(DataValidationError, match=r"lacks columns \['low', 'volume'\]"):
        load_prices(["600002"])


def test_unknown_symbol_and_ranges(tiny_snapshot):
    with pytest.raises(DataNotFoundError, match="no prices for cn:600009"):
        load_prices(["600009"])
    with pytest.raises(OutOfRangeError, match="nothing on or after 2026-01-01"):
        load_prices(["600001"], "2026-01-01", "2026-02-01")
    with pytest.raises(OutOfRangeError, match="listed later"):
        load_prices(["688002"], "2025-06-16", "2025-06-27")
    with pytest.raises(OutOfRangeError, match="start 2025-06-27 is after end"):
        load_prices(["600001"], "2025-06-27", "2025-06-01")


def test_non_strict_lists_what_is_missing(tiny_snapshot):
    p = load_prices(["600001", "688002", "600009"], "2025-06-16", "2025-06-27", strict=False)
    assert sorted(p.frame["symbol"].unique()) == ["600001", "688002"]
    reasons = dict(zip(p.missing["symbol"], p.missing["reason"], strict=True))
    assert set(reasons) == {"688002", "600009"}
    assert "listed later" in reasons["688002"]


def test_adjustment_and_coverage_flags(tiny_snapshot):
    p = load_prices(["600001"], "2025-06-20", "2025-06-27")
    raw, adj = p.close(adjusted=False)["600001"], p.close()["600001"]
    assert raw.iloc[-1] / raw.iloc[0] - 1 == pytest.approx(-0.12)
    assert adj.iloc[-1] / adj.iloc[0] - 1 == pytest.approx(8.8 * 1.25 / 10 - 1)
    flags = p.series("600001")["adj_complete"]
    assert flags.loc["2025-06-26"] and not flags.loc["2025-06-27"]
    prov = p.provenance.set_index("symbol").loc["600001"]
    assert prov["source"] == "snapshot cn/ (synthetic/test)" and prov["price_basis"] == "raw (unadjusted)"
    assert "complete through 2025-06-26" in prov["adjustment"]
    assert p.source_line() == "Data: snapshot cn/ (1 upstream repositories; raw (unadjusted))"


def test_source_lists_symbols(tiny_snapshot):
    src = SnapshotSource(tiny_snapshot)
    assert src.symbols("cn") == ["600001", "688002"]
    assert src.calendar("cn")[0] == pd.Timestamp("2025-06-13")
    assert src.adj_factors(Symbol("us", "GSPC")).empty
