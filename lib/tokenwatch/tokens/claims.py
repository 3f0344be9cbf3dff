"""The weekly's token claims checked against the ledger, in the same unit.

Claims live in data/tokens/report_claims.csv. A verdict is computed from the ledger rows the claim
names, never written down: `holds` (the report's figure is within tolerance of the sources once units
agree), `unit error` (it matches the sources' numbers as stated but their units differ, so aligned it
does not hold), `contradicted` (it matches neither), `unconfirmed` (no source in the ledger to check).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from tokenwatch.curated import read_curated
from tokenwatch.display import fmt_number
from tokenwatch.errors import DataValidationError
from tokenwatch.paths import data_dir
from tokenwatch.tokens.ledger import compare
from tokenwatch.tokens.periods import central, per_day

CLAIM_COLUMNS = ["claim", "report_value", "report_unit", "verified_value", "verified_unit", "per_day_report",
                 "per_day_verified", "verdict", "reason"]
EXTRA_COLUMNS = ["claim_id", "per_day_verified_low", "per_day_verified_high", "sources"]
VERDICTS = ("holds", "unit error", "contradicted", "unconfirmed")
KINDS = ("level", "ratio", "attribution")
CLAIM_FILE_COLUMNS = ["claim_id", "claim", "kind", "report_value", "report_unit", "tolerance_pct", "numerator",
                      "denominator", "said_on", "report_source"]



def _stated(value: float) -> str:
    """A stated figure for a sentence: "480.0 trn" for a count, "5" for a small number (never e-notation)."""
    return fmt_number(value) if abs(value) >= 1e6 else f"{value:g}"

def load_claims(path: str | PathLike | None = None) -> pd.DataFrame:
    path = Path(path) if path else data_dir() / "tokens" / "report_claims.csv"
    claims = read_curated(path, CLAIM_FILE_COLUMNS, "report claims")
    for line, row in enumerate(claims.to_dict("records"), start=2):
        if row["kind"] not in KINDS:
            raise DataValidationError(f"{path}, line {line}: kind {row['kind']!r} is not one of {list(KINDS)}")
        for col in ("report_value", "tolerance_pct"):
            try:
                float(row[col])
            except ValueError:
                raise DataValidationError(f"{path}, line {line}: {col} {row[col]!r} is not a number") from None
    return claims


def _fmt(x: float) -> str:
    return f"{x / 1e12:,.2f} trillion" if x >= 1e11 else f"{x:,.3g}"


def _span(low: float, high: float) -> str:
    return _fmt(low) if np.isclose(low, high) else f"{_fmt(low)} to {_fmt(high)}"


def _near(x: float, low: float, high: float, tol: float) -> bool:
    return low * (1 - tol) <= x <= high * (1 + tol)


def check_claim(claim: pd.Series, ledger: pd.DataFrame) -> dict:
    """One claim's row of claims_check.csv (`ledger` may already be indexed by id)."""
    value, tol = float(claim["report_value"]), float(claim["tolerance_pct"]) / 100
    ids = [i for i in claim["numerator"].split("|") if i] + ([claim["denominator"]] if claim["denominator"] else [])
    rows = ledger if ledger.index.name == "id" else ledger.set_index("id", drop=False)
    out = {"claim_id": claim["claim_id"], "claim": claim["claim"], "report_value": value,
           "report_unit": claim["report_unit"], "verified_value": np.nan, "verified_unit": "",
           "per_day_report": np.nan, "per_day_verified": np.nan, "per_day_verified_low": np.nan,
           "per_day_verified_high": np.nan, "sources": " ; ".join(
               rows.loc[i, "source_url"] for i in ids if i in rows.index)}
    absent = [i for i in ids if i not in rows.index]
    if absent:
        return {**out, "verdict": "unconfirmed",
                "reason": f"no disclosure {', '.join(absent)} in the ledger (as of this run) to check it against"}
    if claim["kind"] == "attribution":
        return {**out, **_attribution(claim, rows.loc[ids])}
    if claim["kind"] == "level":
        return {**out, **_level(value, claim["report_unit"], tol, rows.loc[ids[0]])}
    if len(ids) == 1:  # a stated multiple
        src = rows.loc[ids[0]]
        verdict = "holds" if _near(value, src["value"], src["value"], tol) else "contradicted"
        return {**out, "verified_value": src["value"], "verified_unit": src["period_unit"],
                "per_day_report": value, "per_day_verified": src["value"], "verdict": verdict,
                "reason": f"{src['disclosed_by']} stated {src['value']:g}x ({src['disclosed_date'].date()}); "
                          f"the report says {value:g}x" + ("" if verdict == "holds" else ", outside tolerance")}
    return {**out, **_ratio(value, tol, rows.loc[ids[0]], rows.loc[ids[1]])}


def _level(value: float, unit: str, tol: float, src: pd.Series) -> dict:
    report_low, report_high = per_day(value, unit, src["period_obj"])
    low, high = src["per_day_low"], src["per_day_high"]
    base = {"verified_value": src["value"], "verified_unit": src["period_unit"],
            "per_day_report": central(report_low, report_high), "per_day_verified": central(low, high),
            "per_day_verified_low": low, "per_day_verified_high": high}
    said = f"the source says {_stated(src['value'])} {src['period_unit']} for {src['period']} ({src['disclosed_by']})"
    if _near(report_low, low, high, tol) and _near(report_high, low, high, tol):
        return {**base, "verdict": "holds", "reason": f"{said}: {_span(low, high)} a day, as the report has it"}
    if np.isclose(value, src["value"], rtol=tol) and unit != src["period_unit"]:
        return {**base, "verdict": "unit error",
                "reason": f"same number, different unit: the report has it {unit}, {said}, which is "
                          f"{_span(low, high)} a day ({report_low / high:.0f}x less than the report implies)"}
    return {**base, "verdict": "contradicted", "reason": f"{said}: {_span(low, high)} a day, "
                                                        f"against the report's {_span(report_low, report_high)}"}


def _ratio(value: float, tol: float, num: pd.Series, den: pd.Series) -> dict:
    low, high = compare(num, den)
    raw = num["value"] / den["value"]
    same_unit = num["period_unit"] == den["period_unit"]
    base = {"verified_value": raw, "verified_unit": num["period_unit"] if same_unit
            else f"{num['period_unit']} / {den['period_unit']}",
            "per_day_report": value, "per_day_verified": central(low, high),
            "per_day_verified_low": low, "per_day_verified_high": high}
    what = (f"{num['id']} ({_stated(num['value'])} {num['period_unit']}) over {den['id']} "
            f"({_stated(den['value'])} {den['period_unit']})")
    if _near(value, low, high, tol):
        return {**base, "verdict": "holds", "reason": f"{what}: {_span(low, high)}x per day against per day"}
    if _near(value, raw, raw, tol) and not same_unit:
        return {**base, "verdict": "unit error",
                "reason": f"{what} is {raw:.1f}x only as stated, {num['period_unit']} over {den['period_unit']}; "
                          f"per day against per day it is {_span(low, high)}x"}
    return {**base, "verdict": "contradicted",
            "reason": f"{what}: {_span(low, high)}x per day against per day, not {value:g}x"}


def _attribution(claim: pd.Series, rows: pd.DataFrame) -> dict:
    said_on = pd.Timestamp(claim["said_on"])
    dates = "; ".join(f"{r.disclosed_date.date()} by {r.disclosed_by}" for r in rows.itertuples())
    base = {"verified_value": float(claim["report_value"]), "verified_unit": claim["report_unit"]}
    if (rows["disclosed_date"] == said_on).any():
        return {**base, "verdict": "holds", "reason": f"disclosed on {said_on.date()} as the report says ({dates})"}
    return {**base, "verdict": "unconfirmed",
            "reason": f"no disclosure of the figure on {said_on.date()} in the ledger; it was disclosed {dates}"}


def check_claims(ledger: pd.DataFrame, claims: pd.DataFrame | None = None) -> pd.DataFrame:
    """claims_check.csv: every claim with the report's value, the sources' value and a verdict."""
    claims = load_claims() if claims is None else claims
    by_id = ledger.set_index("id", drop=False)
    table = pd.DataFrame([check_claim(c, by_id) for _, c in claims.iterrows()])
    return table[CLAIM_COLUMNS + EXTRA_COLUMNS]
