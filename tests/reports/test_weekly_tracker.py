"""Week-window member returns and new-high logic on the synthetic snapshot."""

import pandas as pd
import pytest
from conftest import flat_rows, write_bars

from tokenwatch.market import SnapshotSource
from tokenwatch.reports import weekly_tracker as weekly
from tokenwatch.sessions import trading_days, week_window
from tokenwatch.universe import Symbol


def _basket(codes):
    return pd.DataFrame({"code": codes, "name": codes, "segment": ["s"] * len(codes), "market": ["cn"] * len(codes),
                         "symbol": [Symbol("cn", c) for c in codes]})


def test_member_statuses_cover_suspension_listing_and_missing(tiny_snapshot):
    # 600003 trades to 2025-06-13, is suspended 06-16..06-20 and trades again from 06-23
    write_bars(tiny_snapshot / "cn" / "600003.csv",
               flat_rows(["2025-06-13", "2025-06-23", "2025-06-24"], [5.0, 5.5, 5.6]))
    source = SnapshotSource(tiny_snapshot)
    days = trading_days("cn", source)
    table, _ = weekly.member_returns(_basket(["600001", "600003", "600009"]), week_window("2025-06-20", days), source)
    status = dict(zip(table["code"], table["status"], strict=True))
    assert status["600001"] == "ok"
    assert status["600003"] == "no trade in the week (suspended)"
    assert status["600009"].startswith("no data: no prices for cn:600009")
    assert table["code"].tolist() == ["600001", "600003", "600009"]  # nobody dropped

    table, _ = weekly.member_returns(_basket(["600001", "688002"]), week_window("2025-06-27", days), source)
    row = table.set_index("code").loc["600001"]
    assert row["return_pct"] == pytest.approx((8.8 * 1.25 / 10 - 1) * 100)
    assert row["raw_return_pct"] == pytest.approx(-12.0)
    assert "ex-date 2025-06-25: cash 0.5/share, bonus 0.2 shares/share" in row["corporate_action"]
    assert row["adj_note"] == "ex-rights factors complete only through 2025-06-26"
    assert table.set_index("code").loc["688002", "status"] == "listed during the week (first close 2025-06-24)"


def test_data_that_ends_inside_the_week_is_flagged(tiny_snapshot):
    write_bars(tiny_snapshot / "cn" / "600004.csv",
               flat_rows(["2025-06-20", "2025-06-23", "2025-06-24", "2025-06-25"], [10.0, 10.5, 11.0, 11.5]))
    source = SnapshotSource(tiny_snapshot)
    window = week_window("2025-06-27", trading_days("cn", source))
    table, _ = weekly.member_returns(_basket(["600004", "600001"]), window, source)
    row = table.set_index("code").loc["600004"]
    assert row["status"] == "ok" and row["return_pct"] == pytest.approx(15.0)
    assert row["data_note"] == "data ends 2025-06-25, before the week's last session 2025-06-27"
    assert table.set_index("code").loc["600001", "data_note"] == ""


def test_segment_summary_counts_members_without_returns():
    table = pd.DataFrame({"code": ["a", "b", "c"], "name": ["A", "B", "C"], "segment": ["s", "s", "t"],
                          "return_pct": [1.0, 3.0, float("nan")], "raw_return_pct": [1.0, 3.0, float("nan")]})
    summary = weekly.segment_summary(table).set_index("segment")
    columns = ["members", "with_data", "mean_pct", "best_code", "worst_code"]
    assert summary.loc["s", columns].tolist() == [2, 2, 2.0, "b", "a"]
    assert summary.loc["t", "with_data"] == 0
    assert weekly.segment_sentences(table, summary.reset_index())[0].startswith("B led s at +3.00%")


def test_new_high_logic_with_lookback(tiny_snapshot):
    days = ["2024-06-03", "2025-06-13", "2025-06-16", "2025-06-17", "2025-06-18", "2025-06-19", "2025-06-20",
            "2025-06-23", "2025-06-24", "2025-06-25", "2025-06-26", "2025-06-27"]
    closes = [300, 100, 101, 102, 103, 104, 105, 106, 120, 110, 111, 112]  # the 2024 high is beyond 52 weeks
    write_bars(tiny_snapshot / "us" / "ABC.csv", [(*r, r[4]) for r in flat_rows(days, closes)], adj=True)
    source = SnapshotSource(tiny_snapshot)
    window = week_window("2025-06-27", trading_days("cn", source))
    highs, rets, _ = weekly.new_highs(["us:ABC"], window, "all", source)
    h = highs.iloc[0]
    got = (str(h["close_date"]), h["close"], h["previous_high"], bool(h["is_new_high"]))
    assert got == ("2025-06-24", 120, 300, False)
    highs52, _, _ = weekly.new_highs(["us:ABC"], window, "52w", source)
    assert bool(highs52.iloc[0]["is_new_high"]) and highs52.iloc[0]["previous_high"] == 105
    assert rets.iloc[0]["return_pct"] == pytest.approx((112 / 105 - 1) * 100)


def _params(**given) -> weekly.Params:
    values = {"week_end": "2025-06-27", "baskets": "compute_chain", "overseas": ["GSPC"], "high_lookback": "all",
              **given}
    return weekly.Params.from_namespace(values)


def test_latest_is_the_last_session_in_the_baskets_data_and_is_shown_resolved(tiny_snapshot, tmp_path):
    from tokenwatch.artifacts import read_summary

    days = ["2025-06-13", "2025-06-16", "2025-06-17", "2025-06-18", "2025-06-19", "2025-06-20"]
    write_bars(tiny_snapshot / "cn" / "600003.csv", flat_rows(days, [5.0, 5.1, 5.2, 5.3, 5.4, 5.5]))  # ends earlier
    source = SnapshotSource(tiny_snapshot)
    report = weekly.build(_params(week_end="latest", baskets="cn:600001,cn:600003"), source)
    assert report.window.end == pd.Timestamp("2025-06-27")  # the latest close of any member
    said = " ".join(report.notices)
    assert "the last session in the basket's data: 2025-06-27" in said
    assert "1 of 2 members' data end earlier, from 2025-06-20" in said
    assert report.members["code"].tolist() == ["600001", "600003"]  # the inline basket
    report.write(tmp_path)
    assert "2025-06-27" in " ".join(read_summary(tmp_path)["notices"])
    alone = weekly.build(_params(week_end="latest", baskets="cn:600003"), source)
    assert alone.window.end == pd.Timestamp("2025-06-20")


def test_bad_week_end_empty_overseas_and_bad_basket_name_the_parameter(tiny_snapshot):
    from tokenwatch.errors import ParameterError

    with pytest.raises(ParameterError, match="write 2025-06-07 or 2025-07-06 as YYYY-MM-DD"):
        _params(week_end="07/06/2025")
    with pytest.raises(ParameterError, match="overseas is an empty list"):
        _params(overseas=[])
    with pytest.raises(ParameterError, match="parameter baskets: basket 'aaaa"):
        _params(baskets="a" * 300)


def test_a_failed_live_fetch_is_a_finding_not_only_a_footnote(tiny_snapshot, tmp_path):
    from tokenwatch.reports._base import live_alert

    notices = ["cn:603228: served by snapshot market/; live fetch of cn:603228 failed (akshare ...: its name does "
               "not resolve)", "us:GSPC: served by snapshot market/; live fetch of us:GSPC failed (...)",
               "us:GSPC: served by snapshot market/; live fetch of us:GSPC failed (...)", "week snapped to Friday"]
    line = live_alert(notices)
    assert line and line.startswith("Live data unavailable: the live fetch failed for 2 symbol(s) (cn:603228, us:GSPC)")
    assert live_alert(["week snapped to Friday"]) is None
    report = weekly.build(_params(baskets="cn:600001"), SnapshotSource(tiny_snapshot))
    report.notices.append(notices[0])  # what ChainSource says when --live finds no network (audit A6-08)
    report.write(tmp_path)
    first = (tmp_path / "findings.md").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("- Live data unavailable: the live fetch failed for 1 symbol(s) (cn:603228)")
    assert "Live data unavailable" in report._repr_html_()
