"""The token ledger: public token-consumption disclosures as stated, validated, and aligned per day."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from tokenwatch.curated import read_curated
from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.paths import data_dir
from tokenwatch.tokens.periods import DISPLAY_UNITS, RATE_UNITS, UNITS, central, check_period, per_day

REQUIRED = ["id", "series", "measure", "entity", "product_scope", "metric", "value", "period_unit", "period",
            "period_start", "period_end", "disclosed_on", "disclosed_date", "disclosed_date_precision",
            "disclosed_by", "source_title", "source_url", "quote", "confidence", "notes", "restates"]
MEASURES = ("tokens", "words", "api_calls", "ratio")
PRECISIONS = ("day", "month", "unknown")
CONFIDENCE = ("high", "medium", "low")
MIN_ANNUALISE_DAYS = 90
OPTIONAL = ["contained_in", "verified_on"]  # containment (a whole's series) and the day the quote was checked
PER_DAY_COLUMNS = ["entity", "scope", "as_of_start", "as_of_end", "disclosed_on", "value", "unit",
                   "tokens_per_day_low", "tokens_per_day_high", "source_url"]


def ledger_path() -> Path:
    return data_dir() / "tokens" / "disclosures.csv"


def load_ledger(path: str | PathLike | None = None) -> pd.DataFrame:
    """Read and validate the ledger; any bad row stops the load with its line number and the problem.

    Adds `start`, `end` (the period described), `public_from` (the first day the figure was public:
    the disclosure date, or the end of its month when only the month is known), and per-day columns
    `per_day_low`/`per_day_high` for token counts (NaN for words, API calls and ratios).
    """
    path = Path(path) if path else ledger_path()
    raw = _optional_filled(read_curated(path, REQUIRED, "token ledger"))
    rows = [_check_row(row, line, path) for line, row in enumerate(raw.to_dict("records"), start=2)]
    ledger = pd.DataFrame(rows)
    dup = ledger["id"][ledger["id"].duplicated()]
    if len(dup):
        raise DataValidationError(f"{path}: id {dup.iloc[0]!r} appears more than once; ids must be unique")
    unknown = set(ledger["restates"]) - set(ledger["id"]) - {""}
    if unknown:
        raise DataValidationError(f"{path}: 'restates' names ids not in the ledger: {sorted(unknown)}")
    return ledger


@dataclass
class Problem:
    """One bad row of the ledger: its line in the file (1 is the header), its id and what is wrong."""

    line: int
    id: str
    message: str
    severity: str = "error"  # or "warning": not wrong, but worth a look

    def __str__(self) -> str:
        return f"line {self.line} (id {self.id or '?'}): {self.severity}: {self.message}"


def check_ledger(path: str | PathLike | None = None, today: object = None,
                 wholes: dict[str, str] | None = None) -> list[Problem]:
    """Every problem of the ledger file, one per bad row with its line number (the first found in that row).

    Checks the schema, units and measures, dates (period, disclosure not before the period nor after `today`,
    verified_on between disclosure and today), duplicate ids and duplicate figures, restatements (the restated id
    exists, is of the same series and was disclosed no later), and containment (contained_in agrees with
    data/tokens/parts.csv, `wholes`: part series -> whole series). Rows without a verified_on date are warnings.
    """
    path = Path(path) if path else ledger_path()
    today = pd.Timestamp(today or pd.Timestamp.today().normalize())
    raw = _optional_filled(read_curated(path, [], "token ledger"))
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        return [Problem(1, "", f"columns {missing} are missing (needed: {REQUIRED}; optional: {OPTIONAL})")]
    problems: list[Problem] = []
    rows: dict[int, dict] = {}
    for line, row in enumerate(raw.to_dict("records"), start=2):
        try:
            rows[line] = _check_row(row, line, path)
        except DataValidationError as exc:
            problems.append(Problem(line, row.get("id", ""), str(exc).split("): ", 1)[-1]))
            continue
        problem = _dates_and_links(rows[line], today, wholes)
        if problem:
            problems.append(Problem(line, row["id"], problem))
            del rows[line]
    first: dict[str, int] = {}
    figures: dict[tuple, int] = {}
    by_id = {r["id"]: (line, r) for line, r in rows.items()}
    for line, r in rows.items():
        if r["id"] in first:
            problems.append(Problem(line, r["id"], f"id repeats line {first[r['id']]}; ids must be unique"))
            continue
        first[r["id"]] = line
        key = (r["series"], r["start"], r["end"], r["value"], r["period_unit"])
        if key in figures and not r["restates"]:
            problems.append(Problem(line, r["id"], f"the same figure of the same series and period as line "
                                    f"{figures[key]}; drop it or mark it with 'restates'"))
            continue
        figures.setdefault(key, line)
        if r["restates"]:
            if r["restates"] not in by_id:
                problems.append(Problem(line, r["id"], f"restates {r['restates']!r}, which is not in the ledger"))
            elif by_id[r["restates"]][1]["series"] != r["series"]:
                problems.append(Problem(line, r["id"], f"restates {r['restates']!r} of another series "
                                        f"({by_id[r['restates']][1]['series']})"))
            elif by_id[r["restates"]][1]["disclosed_date"] > r["disclosed_date"]:
                problems.append(Problem(line, r["id"], f"restates {r['restates']!r}, disclosed after it"))
    for line, r in rows.items():
        if "verified_on" in r and not str(r["verified_on"]).strip():
            problems.append(Problem(line, r["id"], "no verified_on date: the quote has not been checked against "
                                    "its source", "warning"))
    return sorted(problems, key=lambda p: (p.line, p.severity))


def _optional_filled(raw: pd.DataFrame) -> pd.DataFrame:
    """Empty text for the optional columns where a row stops short of them (rows added before they existed)."""
    for col in OPTIONAL:
        if col in raw.columns:
            raw[col] = raw[col].fillna("")
    return raw


def _dates_and_links(row: dict, today: pd.Timestamp, wholes: dict[str, str] | None) -> str:
    """The row's problem with dates after today, its verification date or its containment ('' for none)."""
    if row["disclosed_date"] > today:
        return f"disclosed_date {row['disclosed_date'].date()} is after today ({today.date()})"
    verified = str(row.get("verified_on", "")).strip()
    if verified:
        try:
            day = pd.Timestamp(verified)
        except ValueError:
            return f"verified_on {verified!r} is not a date (YYYY-MM-DD)"
        if not row["disclosed_date"] <= day <= today:
            return (f"verified_on {day.date()} should lie between the disclosure ({row['disclosed_date'].date()}) "
                    f"and today ({today.date()})")
    whole = str(row.get("contained_in", "")).strip()
    if wholes is not None and "contained_in" in row and whole != wholes.get(row["series"], ""):
        expected = wholes.get(row["series"], "")
        return (f"contained_in {whole!r} disagrees with data/tokens/parts.csv, which puts {row['series']} in "
                f"{expected!r}" if expected else f"contained_in {whole!r}, but data/tokens/parts.csv has no row "
                f"for {row['series']} as a part (add it there, with its basis and source)")
    return ""


def _check_row(row: dict, line: int, path: Path) -> dict:
    def bad(problem: str) -> DataValidationError:
        return DataValidationError(f"{path}, line {line} (id {row.get('id') or '?'}): {problem}")

    for col in ("id", "series", "entity", "disclosed_date"):
        if not row[col].strip():
            raise bad(f"{col} is empty")
    if not row["source_url"].startswith(("http://", "https://")):
        raise bad(f"source_url {row['source_url']!r} is missing or not a web address; every figure needs its source")
    if row["period_unit"] not in UNITS:
        raise bad(f"unit {row['period_unit']!r} is not one of {list(UNITS)}")
    if row["measure"] not in MEASURES:
        raise bad(f"measure {row['measure']!r} is not one of {list(MEASURES)}")
    if (row["measure"] == "ratio") != (row["period_unit"] not in RATE_UNITS):
        raise bad(f"measure {row['measure']!r} does not go with unit {row['period_unit']!r}")
    for col, allowed in (("disclosed_date_precision", PRECISIONS), ("confidence", CONFIDENCE)):
        if row[col] not in allowed:
            raise bad(f"{col} {row[col]!r} is not one of {list(allowed)}")
    try:
        value = float(row["value"])
    except ValueError:
        raise bad(f"value {row['value']!r} is not a number") from None
    if not np.isfinite(value) or value <= 0:
        raise bad(f"value {row['value']!r} must be a positive number")
    try:
        period = check_period(row["period"], row["period_start"], row["period_end"])
        disclosed = pd.Timestamp(row["disclosed_date"])
    except (ValueError, DataValidationError) as exc:
        raise bad(str(exc)) from None
    if disclosed < period.start:
        raise bad(f"disclosed {disclosed.date()} before the period it describes starts ({period.start.date()})")
    low = high = np.nan
    if row["measure"] == "tokens":
        low, high = per_day(value, row["period_unit"], period)
    public = disclosed + pd.offsets.MonthEnd(0) if row["disclosed_date_precision"] == "month" else disclosed
    return {**row, "value": value, "period_obj": period, "start": period.start, "end": period.end,
            "midpoint": period.midpoint, "disclosed_date": disclosed, "public_from": public,
            "per_day_low": low, "per_day_high": high}


def as_of(ledger: pd.DataFrame, date: object) -> pd.DataFrame:
    """The disclosures public on `date` (by `public_from`: a month-precision date counts from month end)."""
    return ledger[ledger["public_from"] <= pd.Timestamp(date)]


def tokens_only(ledger: pd.DataFrame, include_restated: bool = False) -> pd.DataFrame:
    """Token counts only (words, API calls and ratios left out); restatements dropped unless asked for."""
    out = ledger[ledger["measure"] == "tokens"]
    return out if include_restated else out[out["restates"] == ""]


def select(ledger: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Rows whose entity or series contains any of `names` (case-insensitive)."""
    hit = np.zeros(len(ledger), dtype=bool)
    for name in names:
        for col in ("entity", "series"):
            hit |= ledger[col].str.contains(str(name), case=False, regex=False).to_numpy()
    if not hit.any():
        raise ParameterError(f"no entity or series matches {names}; series in the ledger: "
                             f"{sorted(ledger['series'].unique())}")
    return ledger[hit]


def per_day_table(ledger: pd.DataFrame) -> pd.DataFrame:
    """The artifact `ledger_per_day.csv`: token rows with their per-day range."""
    t = tokens_only(ledger, include_restated=True)
    return pd.DataFrame({
        "id": t["id"], "series": t["series"], "entity": t["entity"], "scope": t["product_scope"],
        "as_of_start": t["start"].dt.date, "as_of_end": t["end"].dt.date,
        "disclosed_on": t["disclosed_date"].dt.date, "value": t["value"], "unit": t["period_unit"],
        "tokens_per_day_low": t["per_day_low"], "tokens_per_day_high": t["per_day_high"],
        "confidence": t["confidence"], "source_url": t["source_url"],
    }).sort_values(["series", "as_of_start"]).reset_index(drop=True)


def in_unit(per_day_values: pd.Series | np.ndarray | float, unit: str) -> pd.Series | np.ndarray | float:
    """Tokens per day expressed in a fixed-length display unit."""
    if unit not in DISPLAY_UNITS:
        raise ParameterError(f"unit {unit!r} is not one of {list(DISPLAY_UNITS)} (calendar months differ in length,"
                             " so a per-day figure is shown per average month)")
    return per_day_values * DISPLAY_UNITS[unit]


def compare(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """How many times `a` is `b`, per day against per day: (low, high).

    Figures are only compared in one unit, so both must be token counts (words, API calls and growth
    multiples are refused) and both are converted to tokens per day first.
    """
    for row in (a, b):
        if row["measure"] != "tokens":
            raise ParameterError(f"{row['id']} counts {row['measure']}, not tokens: it cannot be compared with "
                                 "token figures")
    return a["per_day_low"] / b["per_day_high"], a["per_day_high"] / b["per_day_low"]


def growth(a: pd.Series, b: pd.Series) -> dict:
    """Growth from disclosure `a` to the later disclosure `b` (ledger rows of the same series).

    The multiple is a range when either figure is (vague periods). It is annualised over the days
    between the periods' midpoints, but only for periods that do not overlap and lie at least
    MIN_ANNUALISE_DAYS apart: compounding a few weeks' change to a year mostly amplifies noise.
    """
    if a["series"] != b["series"]:
        raise ParameterError(f"growth compares one series; {a['id']} is {a['series']}, {b['id']} is {b['series']}")
    low, high = compare(b, a)
    if a["period_unit"] == b["period_unit"] and a["period"] == b["period"]:
        raise ParameterError(f"{a['id']} and {b['id']} describe the same period")
    days = (b["midpoint"] - a["midpoint"]).days
    mid = central(low, high)
    overlap = b["start"] <= a["end"]
    return {"series": a["series"], "from_id": a["id"], "to_id": b["id"],
            "from_mid": a["midpoint"].date(), "to_mid": b["midpoint"].date(), "days": days,
            "multiple_low": low, "multiple_high": high, "multiple": mid, "periods_overlap": overlap,
            "annualised_multiple": mid ** (365.25 / days) if days >= MIN_ANNUALISE_DAYS and not overlap
            else np.nan}


def growth_table(ledger: pd.DataFrame) -> pd.DataFrame:
    """Growth between consecutive disclosures (by period midpoint) within each series."""
    rows: list[dict] = []
    for _, part in tokens_only(ledger).sort_values("midpoint").groupby("series", sort=True):
        recs = [r for _, r in part.iterrows()]
        rows.extend(growth(a, b) for a, b in itertools.pairwise(recs))
    return pd.DataFrame(rows)
