"""Token units and periods, the ledger's checks, growth and the claims check."""

import calendar
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.paths import data_dir
from tokenwatch.tokens import (
    as_of,
    check_claims,
    compare,
    growth,
    in_unit,
    load_claims,
    load_ledger,
    parse_period,
    per_day,
)
from tokenwatch.tokens.periods import days_per_unit

LEDGER = data_dir() / "tokens" / "disclosures.csv"


def _edited(tmp_path: Path, row_id: str, **changes) -> Path:
    """A copy of the ledger (and claims) with one row changed."""
    frame = pd.read_csv(LEDGER, dtype=str, keep_default_na=False)
    for col, value in changes.items():
        frame.loc[frame["id"] == row_id, col] = value
    path = tmp_path / "disclosures.csv"
    frame.to_csv(path, index=False)
    (tmp_path / "report_claims.csv").write_bytes((LEDGER.parent / "report_claims.csv").read_bytes())
    return path


def _line_of(row_id: str) -> int:
    return int(pd.read_csv(LEDGER, dtype=str).index[pd.read_csv(LEDGER, dtype=str)["id"] == row_id][0]) + 2


def _verdicts(ledger_path: Path | None = None) -> dict[str, str]:
    ledger = load_ledger(ledger_path)
    claims = load_claims(ledger_path.with_name("report_claims.csv") if ledger_path else None)
    return check_claims(ledger, claims).set_index("claim_id")["verdict"].to_dict()


@pytest.mark.parametrize("year", [2024, 2025])
def test_a_monthly_figure_uses_the_days_of_that_month(year):
    for month in range(1, 13):
        days = calendar.monthrange(year, month)[1]
        low, high = per_day(3100.0, "per month", parse_period(f"{year}-{month:02d}"))
        assert low == high == pytest.approx(3100.0 / days), (year, month)
    assert days_per_unit("per month", parse_period("2024-02")) == (29, 29)
    assert days_per_unit("per month", parse_period("2025-02")) == (28, 28)


@pytest.mark.parametrize(("period", "unit", "days", "bounds"), [
    ("2025-Q1", "per quarter", 90, ("2025-01-01", "2025-03-31")),
    ("2025-Q2", "per quarter", 91, ("2025-04-01", "2025-06-30")),
    ("2025-Q3", "per quarter", 92, ("2025-07-01", "2025-09-30")),
    ("2024-Q1", "per quarter", 91, ("2024-01-01", "2024-03-31")),  # leap year
    ("FY2025-Q3@06", "per quarter", 90, ("2025-01-01", "2025-03-31")),  # Microsoft: FY ends in June
    ("FY2026-Q1@06", "per quarter", 92, ("2025-07-01", "2025-09-30")),
    ("FY2025-Q1@09", "per quarter", 92, ("2024-10-01", "2024-12-31")),  # a year ending in September
    ("FY2026-Q1@01", "per quarter", 89, ("2025-02-01", "2025-04-30")),  # NVIDIA: FY ends in January
    ("FY2025-Q1@01", "per quarter", 90, ("2024-02-01", "2024-04-30")),  # ... in a leap year
    ("FY2025@06", "per year", 365, ("2024-07-01", "2025-06-30")),
    ("2024", "per year", 366, ("2024-01-01", "2024-12-31")),
    ("2025-H1", "per half-year", 181, ("2025-01-01", "2025-06-30")),
    ("2026-02-03..2026-02-09", "per week", 7, ("2026-02-03", "2026-02-09")),
])
def test_quarters_fiscal_quarters_and_spans(period, unit, days, bounds):
    p = parse_period(period)
    assert (p.start, p.end) == tuple(pd.Timestamp(b) for b in bounds)
    assert days_per_unit(unit, p) == (days, days)


def test_a_vague_period_gives_a_range_and_a_run_rate_takes_its_calendar_unit():
    low, high = per_day(4.8e14, "per month", parse_period("2025-04/2025-05"))  # April (30) or May (31)
    assert (low, high) == (pytest.approx(4.8e14 / 31), pytest.approx(4.8e14 / 30))
    # a year's run rate stated over two summer months: the calendar year holding them (2025: 365 days)
    assert days_per_unit("per year", parse_period("2025-06/2025-07")) == (365, 365)
    assert per_day(1440.0, "per minute", parse_period("2025-Q3")) == (1440.0 * 1440, 1440.0 * 1440)
    assert days_per_unit("per month", parse_period("2025-Q1/2025-Q2")) == (28, 31)  # a month somewhere in H1


@pytest.mark.parametrize("text", ["2025-13", "2025/05", "2025-05/2025-Q2", "FY2025-Q5@06", "2025-06..2025-05",
                                  "May 2025"])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError):
        parse_period(text)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"period_unit": "per fortnight"}, "unit 'per fortnight' is not one of"),
    ({"source_url": ""}, "source_url '' is missing"),
    ({"value": "-3"}, "must be a positive number"),
    ({"value": "lots"}, "is not a number"),
    ({"period": "spring 2025"}, "is not a period"),
    ({"period": "2025-06"}, "covers 2025-06-01..2025-06-30 but the row states"),
    ({"disclosed_date_precision": "week"}, "disclosed_date_precision"),
])
def test_a_malformed_row_is_named_by_its_line(tmp_path, changes, problem):
    path = _edited(tmp_path, "doubao-2025-03", **changes)
    with pytest.raises(DataValidationError) as err:
        load_ledger(path)
    assert f"line {_line_of('doubao-2025-03')} (id doubao-2025-03)" in str(err.value)
    assert problem in str(err.value)


def test_the_shipped_ledger_loads_with_every_row_sourced():
    ledger = load_ledger()
    assert ledger["id"].is_unique and ledger["source_url"].str.startswith("http").all()
    tokens = ledger[ledger["measure"] == "tokens"]
    assert tokens["per_day_low"].gt(0).all() and (tokens["per_day_low"] <= tokens["per_day_high"]).all()
    assert ledger.loc[ledger["measure"] != "tokens", "per_day_low"].isna().all()  # words/calls/ratios never converted
    google = ledger.set_index("id").loc["google-2025-05"]
    assert (google["per_day_low"], google["per_day_high"]) == (pytest.approx(4.8e14 / 31), pytest.approx(1.6e13))


def test_as_of_takes_only_what_was_public():
    ledger = load_ledger()
    before = as_of(ledger, "2025-06-10")
    assert "google-2025-05" in set(before["id"]) and "doubao-2025-05" not in set(before["id"])  # disclosed 06-11
    assert "doubao-2025-05" in set(as_of(ledger, "2025-06-11")["id"])
    # known only to the month (2025-09): public from the month's end, never earlier
    assert "idc-china-maas-2025h1" not in set(as_of(ledger, "2025-09-29")["id"])
    assert "idc-china-maas-2025h1" in set(as_of(ledger, "2025-09-30")["id"])
    assert (before["public_from"] <= pd.Timestamp("2025-06-10")).all()


def test_growth_is_a_range_when_periods_are_vague_and_refuses_other_series():
    rows = load_ledger().set_index("id", drop=False)
    g = growth(rows.loc["google-2024-05"], rows.loc["google-2025-05"])
    assert g["multiple_low"] == pytest.approx((4.8e14 / 31) / (9.7e12 / 30))
    assert g["multiple_high"] == pytest.approx((4.8e14 / 30) / (9.7e12 / 31))
    assert g["multiple_low"] < 4.8e14 / 9.7e12 < g["multiple_high"]
    d = growth(rows.loc["doubao-2024-05"], rows.loc["doubao-2025-05"])
    assert d["multiple"] == pytest.approx(1.64e13 / 1.2e11)
    with pytest.raises(ParameterError, match="one series"):
        growth(rows.loc["doubao-2024-05"], rows.loc["google-2025-05"])


def test_growth_is_annualised_only_between_periods_far_enough_apart():
    rows = load_ledger().set_index("id", drop=False)
    year = growth(rows.loc["google-2024-05"], rows.loc["google-2025-05"])  # midpoints 365 days apart
    assert year["days"] == 365 and year["annualised_multiple"] == pytest.approx(year["multiple"] ** (365.25 / 365))
    short = growth(rows.loc["google-2025-05"], rows.loc["google-2025-06"])  # 45 days apart
    assert short["days"] < 90 and np.isnan(short["annualised_multiple"])
    overlap = growth(rows.loc["microsoft-fy2025"], rows.loc["microsoft-fy25q3"])  # a quarter inside the year
    assert overlap["periods_overlap"] and np.isnan(overlap["annualised_multiple"])


def test_display_units_have_fixed_lengths():
    assert in_unit(1440.0, "per minute") == pytest.approx(1.0)
    assert in_unit(1.0, "per month (average)") == pytest.approx(365.25 / 12)
    with pytest.raises(ParameterError, match="per average month"):
        in_unit(1.0, "per month")


def test_entities_are_compared_only_in_one_unit():
    rows = load_ledger().set_index("id", drop=False)
    low, high = compare(rows.loc["google-2025-05"], rows.loc["doubao-2025-05"])  # per month vs per day, aligned
    assert (low, high) == (pytest.approx(4.8e14 / 31 / 1.64e13), pytest.approx(4.8e14 / 30 / 1.64e13))
    with pytest.raises(ParameterError, match="counts words, not tokens"):
        compare(rows.loc["openai-words-2024-02"], rows.loc["doubao-2025-05"])


def test_the_claims_check_finds_the_unit_error_from_the_data(tmp_path):
    assert _verdicts() == {"google_480t_daily": "unit error", "google_50x": "holds", "doubao_16_4t_daily": "holds",
                           "doubao_137x": "holds", "overseas_30x_room": "unit error", "microsoft_5x": "holds",
                           "microsoft_5x_at_agm": "unconfirmed"}
    # Had Google said 480 trillion a day, the report's "daily" and its 30x would both hold.
    edited = _verdicts(_edited(tmp_path, "google-2025-05", period_unit="per day"))
    assert edited["google_480t_daily"] == "holds" and edited["overseas_30x_room"] == "holds"
    assert edited["google_50x"] == "unit error"  # now per day over per month


def test_claims_follow_the_numbers_and_the_dates(tmp_path):
    assert _verdicts(_edited(tmp_path, "doubao-2025-05", value="2.5e+13"))["doubao_16_4t_daily"] == "contradicted"
    assert _verdicts(_edited(tmp_path, "microsoft-2025q1-nvidia", disclosed_date="2025-06-25"))[
        "microsoft_5x_at_agm"] == "holds"
    ledger = load_ledger()
    early = check_claims(as_of(ledger, "2025-06-01"), load_claims()).set_index("claim_id")["verdict"]
    assert early["doubao_16_4t_daily"] == "unconfirmed"  # Doubao's figure was not public yet


def test_ledger_check_names_each_bad_row_by_its_line(tmp_path, capsys):
    from tokenwatch.run.cli import main
    from tokenwatch.tokens.ledger import check_ledger

    frame = pd.read_csv(data_dir() / "tokens" / "disclosures.csv", dtype=str, keep_default_na=False)
    frame["contained_in"] = ""
    frame["verified_on"] = "2026-12-01"
    first = frame.iloc[0].copy()
    bad = frame.iloc[:5].copy()
    bad.loc[bad.index[0], "period_unit"] = "per fortnight"  # line 2: unit
    bad.loc[bad.index[2], "disclosed_date"] = "2099-01-01"  # line 4: after today
    bad.loc[bad.index[3], "verified_on"] = ""  # line 5: a warning only
    dup = first.copy()
    dup["id"] = "copy-of-first"  # line 8: the same figure as line 7 (the first row again, renamed)
    bad = pd.concat([bad, first.to_frame().T, dup.to_frame().T], ignore_index=True)
    path = tmp_path / "disclosures.csv"
    bad.to_csv(path, index=False)
    problems = check_ledger(path, today="2026-12-06")
    got = {(p.line, p.severity) for p in problems}
    assert got == {(2, "error"), (4, "error"), (5, "warning"), (8, "error")}, [str(p) for p in problems]
    by_line = {p.line: p.message for p in problems}
    assert "per fortnight" in by_line[2] and "after today" in by_line[4] and "line 7" in by_line[8]
    # the command also checks containment against data/tokens/parts.csv: line 6 (google-api) lacks its whole
    assert main(["ledger", "check", "--path", str(path)]) == 1
    out = capsys.readouterr().out
    assert "line 2 (id " in out and "line 6 (id google-api" in out and "4 error(s), 1 warning(s)" in out


def test_the_shipped_ledger_passes_its_check_and_its_containment_agrees_with_parts():
    from tokenwatch.methods.forecast import load_parts
    from tokenwatch.tokens.ledger import check_ledger

    parts = load_parts()
    problems = check_ledger(LEDGER, wholes=dict(zip(parts["part"], parts["whole"], strict=True)))
    assert [str(p) for p in problems if p.severity == "error"] == []
    ledger = load_ledger()
    assert (ledger.loc[ledger["series"] == "doubao", "contained_in"] == "china-nda").all()
