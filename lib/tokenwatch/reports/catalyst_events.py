"""Notebook 08's events: every day-dated token disclosure on its first A-share session, the comparison events of
data/events.csv on the same clock, and whether domestic token growth can be led or lagged at all."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.events import ASSUMED_TIME, load_events, with_sessions
from tokenwatch.paths import data_file

TOKENS = "tokens"
LEFT_OUT_COLUMNS = ["event_date", "entity", "reason"]
MIN_LEAD_LAG = 24  # months of a regular token series a lead-lag estimate needs


def token_events(ledger: pd.DataFrame, cn_days: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One event per entity and disclosure day (disclosures dated to the day), on its first A-share session; and
    the disclosures left out, with the reason (a month or an unknown day cannot be put on a session)."""
    dated = ledger[ledger["disclosed_date_precision"] == "day"]
    left = ledger[ledger["disclosed_date_precision"] != "day"]
    out = [{"event_date": r.disclosed_date.date(), "entity": r.entity,
            "reason": f"disclosed_date precision {r.disclosed_date_precision!r}: no day to put on a session"}
           for r in left.itertuples()]
    rows = []
    for (day, entity), g in dated.groupby(["disclosed_date", "entity"], sort=True):
        first = g.iloc[0]
        tz, at = str(first["tz"]), str(first["time_local"])
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise DataValidationError(f"{data_file('tokens/disclosures.csv')} {first['id']}: tz {tz!r} is not an IANA "
                                      "time zone such as Asia/Shanghai or America/New_York") from None
        when = pd.Timestamp.combine(day.date(), pd.Timestamp(at).time() if at else ASSUMED_TIME[""])
        rows.append({"date": day, "moment": when.tz_localize(tz), "time_assumed": not at, "entity": entity,
                     "category": TOKENS, "headline": "; ".join(g["series"].unique()) + " token disclosure",
                     "confidence": "high"})
    events = with_sessions(pd.DataFrame(rows), "cn", cn_days)
    for r in events[events["session_date"].isna()].itertuples():
        out.append({"event_date": r.date.date(), "entity": r.entity, "reason": r.session_note})
    return events.dropna(subset=["session_date"]), pd.DataFrame(out, columns=LEFT_OUT_COLUMNS)


def comparison_events(categories: list[str], cn_days: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """data/events.csv's confirmed events of `categories` on their first A-share session."""
    events = load_events()
    unknown = sorted(set(categories) - set(events["category"]))
    if unknown:
        raise ParameterError(f"comparison categories {unknown} are not in {data_file('events.csv')}; categories: "
                             f"{sorted(events['category'].unique())}")
    events = with_sessions(events[events["category"].isin(categories) & (events["confidence"] != "unconfirmed")],
                           "cn", cn_days)
    left = events[events["session_date"].isna()]
    return (events.dropna(subset=["session_date"]),
            pd.DataFrame({"event_date": left["date"].dt.date, "entity": left["entity"],
                          "reason": left["session_note"]}, columns=LEFT_OUT_COLUMNS))


def lead_lag_note(ledger: pd.DataFrame, series: str) -> dict[str, object]:
    """Whether domestic token growth can be led or lagged against the basket: the series' dated points, their
    spacing, and the verdict (a regular monthly series of MIN_LEAD_LAG months is needed)."""
    part = ledger[(ledger["series"] == series)].sort_values("midpoint")
    gaps = part["midpoint"].diff().dt.days.dropna()
    months = int(part["midpoint"].dt.to_period("M").nunique())
    span = (f"{part['midpoint'].min().date()} to {part['midpoint'].max().date()}" if len(part) else "none")
    return {"series": series, "points": len(part), "months_with_a_point": months, "span": span,
            "median_gap_days": float(gaps.median()) if len(gaps) else np.nan,
            "estimable": months >= MIN_LEAD_LAG and len(gaps) > 0 and float(gaps.max()) <= 45,
            "verdict": (f"cannot be estimated: {series} has {len(part)} points over {span} (median gap "
                        f"{gaps.median():.0f} days); a lead-lag against daily or monthly returns needs a regular "
                        f"monthly series of at least {MIN_LEAD_LAG} months") if months < MIN_LEAD_LAG or not len(gaps)
            else f"{series} is regular enough to test"}
