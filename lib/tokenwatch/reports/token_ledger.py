"""The token-ledger notebook's work: the ledger as of a date, growth, and the claims check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch.artifacts import file_source
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.errors import ParameterError
from tokenwatch.plots import finish, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, parsed
from tokenwatch.tokens.claims import CLAIM_COLUMNS, EXTRA_COLUMNS, check_claims, load_claims
from tokenwatch.tokens.ledger import (
    PER_DAY_COLUMNS,
    as_of,
    growth_table,
    in_unit,
    ledger_path,
    load_ledger,
    per_day_table,
    select,
)
from tokenwatch.tokens.periods import DISPLAY_UNITS, central


@dataclass
class LedgerReport(Report):
    run_name: ClassVar[str] = "token_ledger"
    as_of: pd.Timestamp
    unit: str
    ledger: pd.DataFrame  # every disclosure public on as_of, before the entity filter
    shown: pd.DataFrame  # after the entity filter
    per_day: pd.DataFrame
    growth: pd.DataFrame
    claims: pd.DataFrame
    not_counts: pd.DataFrame  # words, API calls, ratios: kept, never converted
    ledger_file: Path
    claims_rows: int
    notices: list[str] = field(default_factory=list)

    @property
    def source_line(self) -> str:
        return (f"Source: tokenwatch token ledger ({len(self.ledger)} public disclosures as of {self.as_of.date()}, "
                "each with its URL in ledger_per_day.csv); per-day figures use the real length of the period "
                "described.")

    def table(self) -> pd.DataFrame:
        """The ledger for display: per-day ranges in the chosen unit, with sources."""
        t = self.per_day
        return t.assign(low=in_unit(t["tokens_per_day_low"], self.unit),
                        high=in_unit(t["tokens_per_day_high"], self.unit))[
            ["series", "entity", "as_of_start", "as_of_end", "disclosed_on", "value", "unit", "low", "high",
             "confidence", "source_url"]]

    def summary(self) -> dict:
        verdicts = self.claims.set_index("claim_id")["verdict"].to_dict()
        counts = self.claims["verdict"].value_counts().to_dict()
        return {
            "notebook": "token_ledger",
            "as_of": self.as_of,
            "unit": self.unit,
            "disclosures": len(self.shown),
            "series": sorted(self.shown["series"].unique()),
            "headline": {"disclosures": len(self.shown),
                         **{f"claims {k}": v for k, v in counts.items()}},
            "verdicts": verdicts,
            "claims": self.claims[["claim_id", "verdict", "reason"]].to_dict("records"),
            "sources": [file_source(self.ledger_file, len(self.ledger), "token disclosures, each row with source_url"),
                        file_source(self.ledger_file.with_name("report_claims.csv"), self.claims_rows,
                                    "the weekly's token claims, in our words")],
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"ledger_per_day": cols(self.per_day, [*PER_DAY_COLUMNS, "id", "series", "confidence"], "ledger_per_day"),
               "claims_check": cols(self.claims, CLAIM_COLUMNS + EXTRA_COLUMNS, "claims_check")}
        if len(self.growth):
            out["growth"] = self.growth
        return out

    @property
    def findings(self) -> list[str]:
        counts = self.claims["verdict"].value_counts()
        lines = [f"{len(self.shown)} token disclosures public on {self.as_of.date()} across "
                 f"{self.shown['series'].nunique()} series; the weekly's {len(self.claims)} token claims checked: "
                 + ", ".join(f"{n} {v}" for v, n in counts.items()) + "."]
        lines += [f"{r.claim_id} ({r.verdict}): {r.reason}" for r in self.claims.itertuples()
                  if r.verdict != "holds"][:4]
        return lines


def ledger_report(date: pd.Timestamp, entities: list[str] | None = None, unit: str = "per day",
                  ledger_file: Path | None = None) -> LedgerReport:
    """The ledger public on `date`, optionally narrowed to entities or series, with the claims check."""
    if unit not in DISPLAY_UNITS:
        raise ParameterError(f"unit={unit!r} is not one of {list(DISPLAY_UNITS)}")
    path = ledger_file or ledger_path()
    full = load_ledger(path)
    public = as_of(full, date)
    if public.empty:
        first = full["public_from"].min().date()
        raise ParameterError(f"no disclosure was public on {date.date()}; the first dates from {first}")
    shown = select(public, entities) if entities else public
    claims = load_claims(path.with_name("report_claims.csv"))
    return LedgerReport(
        as_of=date, unit=unit, ledger=public, shown=shown, per_day=per_day_table(shown),
        growth=growth_table(shown), claims=check_claims(public, claims),
        not_counts=shown[shown["measure"] != "tokens"], ledger_file=path, claims_rows=len(claims))






def ledger_chart(table: pd.DataFrame, unit: str, source: str, title: str | None = None) -> Figure:
    """Log-scale tokens by series over time: a marker at each period's midpoint, a horizontal bar over
    the period it describes and a vertical bar over the per-day range when the period is vague."""
    fig, ax = new_figure(figsize=(10, 5.6))
    for i, (series, part) in enumerate(table.groupby("series", sort=True)):
        start, end = pd.to_datetime(part["as_of_start"]), pd.to_datetime(part["as_of_end"])
        mid = start + (end - start) / 2
        low = in_unit(part["tokens_per_day_low"].to_numpy(), unit)
        high = in_unit(part["tokens_per_day_high"].to_numpy(), unit)
        mid_value = central(low, high)
        color = plt.cm.tab20(i % 20)
        marker = "os^Dv"[i // 20 % 5]
        ax.errorbar(mid, mid_value, xerr=[mid - start, end - mid], yerr=[mid_value - low, high - mid_value],
                    fmt=marker, color=color, ms=5, capsize=2, elinewidth=1, label=series)
        if len(part) > 1:
            ax.plot(mid, mid_value, color=color, lw=0.8, alpha=0.5)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.legend(fontsize=7, ncol=2, loc="upper left", frameon=False)
    return finish(fig, title or f"Disclosed token consumption by series, tokens {unit} (log scale)", source,
                  xlabel="period the figure describes (bar: its span)", ylabel=f"tokens {unit}", data=table)


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 03's parameters, checked once."""

    as_of: pd.Timestamp = parsed(checks.as_date_or_today)
    entities: list[str] = parsed(checks.text_list)
    unit: str = parsed(checks.one_of(*DISPLAY_UNITS))


def build(p: Params, source: object = None) -> LedgerReport:
    """The ledger public on `p.as_of` with the weekly's claims checked (no prices: `source` is unused)."""
    with collect_notices() as notices:
        report = ledger_report(p.as_of, p.entities, p.unit)
    report.notices = notices
    return report
