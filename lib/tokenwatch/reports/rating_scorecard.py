"""The rating scorecard notebook's work: did the call hold for the subject, and how did each named company do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch.artifacts import prices_line, sources
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.errors import DataNotFoundError, ParameterError
from tokenwatch.market import Prices, PriceSource, default_source, load_prices
from tokenwatch.methods import baskets, rating
from tokenwatch.methods.rating import Score
from tokenwatch.paths import data_dir, data_file
from tokenwatch.plots import NEUTRAL, finish, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.universe import Symbol, load_basket, names, parse_symbols

SHENWAN_ELECTRONICS = Symbol("cn_index", "801080")
STAND_IN = Symbol("cn_index", "512760")


@dataclass
class ScoreCard(Report):
    run_name: ClassVar[str] = "rating_scorecard"
    subject: str
    subject_label: str
    kind: str
    rating: str
    benchmark: str
    main: Score
    companies: pd.DataFrame
    bands: pd.DataFrame
    prices: list[Prices]
    notices: list[str] = field(default_factory=list)

    @property
    def source_line(self) -> str:
        return prices_line(self.prices, f"bands: {data_file('rating_bands.csv')} (report's standard)")

    def band_table(self) -> pd.DataFrame:
        """The bands of this call's kind (industry or company)."""
        return self.bands[self.bands["kind"] == self.kind][
            ["rating", "rating_en", "lower_pct", "upper_pct", "lower_inclusive", "upper_inclusive"]]

    def table(self) -> pd.DataFrame:
        main = pd.DataFrame([self.main.row])
        return pd.concat([main, self.companies], ignore_index=True)

    def verdict(self) -> str:
        r = self.main.row
        held = "held" if r["held"] else "did not hold"
        text = (f"{self.subject_label} returned {r['subject_return_pct']:+.2f}% against the benchmark's "
                f"{r['benchmark_return_pct']:+.2f}% from {r['call_date']} to {r['horizon_end']}: "
                f"{r['relative_pct']:+.2f} percentage points, in the {r['band']} band, so the {self.rating} "
                f"({self.kind}) call {held}.")
        if self.main.partial:
            text += f" Partial: {self.main.partial}."
        return text

    def summary(self) -> dict:
        r = self.main.row
        return {
            "notebook": "rating_scorecard", "subject": self.subject, "subject_label": self.subject_label,
            "kind": self.kind, "rating": self.rating, "benchmark": self.benchmark, "call_date": r["call_date"],
            "horizon_end": r["horizon_end"], "relative_pct": r["relative_pct"], "band": r["band"],
            "held": bool(r["held"]), "complete": r["complete"], "partial": self.main.partial, "verdict": self.verdict(),
            "companies": self.companies[["subject", "relative_pct", "band"]].to_dict("records"),
            "notices": self.notices,
            "headline": {"subject": self.subject_label, "relative %": round(float(r["relative_pct"]), 2),
                         "band": r["band"], "held": bool(r["held"])},
            "sources": sources(*(p.provenance for p in self.prices)),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"scorecard": cols(self.table(), [*rating.SCORE_COLUMNS, "kind", "best_relative_pct",
                                                 "worst_relative_pct", "complete"], "scorecard"),
                "relative_path": self.main.path}

    @property
    def findings(self) -> list[str]:
        lines = [self.verdict()]
        if len(self.companies):
            c = self.companies.sort_values("relative_pct")
            lines.append(f"Of the {len(c)} named companies, {c.iloc[-1]['subject']} did best "
                         f"({c.iloc[-1]['relative_pct']:+.1f} pp) and {c.iloc[0]['subject']} worst "
                         f"({c.iloc[0]['relative_pct']:+.1f} pp).")
        return lines


def resolve_subject(subject: str, source: PriceSource) -> tuple[str, list[Symbol] | None, Symbol | None]:
    """('label', basket members, None) for a basket name; ('label', None, symbol) for an index or stock."""
    if subject == "auto":
        try:
            source.daily(SHENWAN_ELECTRONICS)
            return "801080 申万电子", None, SHENWAN_ELECTRONICS
        except DataNotFoundError:
            notice(f"The Shenwan electronics index 801080 is not in {source.describe()}; the semiconductor "
                   "ETF 512760 (国泰CES半导体芯片ETF) stands in for it. Fetch 801080 live for the real subject.")
            return "512760 国泰CES半导体芯片ETF (stand-in for 申万电子 801080)", None, STAND_IN
    if (data_dir() / "baskets" / f"{subject}.csv").is_file():
        table = load_basket(subject)
        return f"basket {subject} (equal weight, {len(table)} names)", list(table["symbol"]), None
    sym = parse_symbols([subject])[0]
    return f"{sym.code} {names([sym])[sym]}", None, sym


def score_call(call_date: pd.Timestamp, subject: str, rating_: str, kind: str, benchmark: str, months: int,
               companies: str, source: PriceSource) -> ScoreCard:
    bands = rating.load_bands()
    if kind not in set(bands["kind"]):
        raise ParameterError(f"kind={kind!r} is not one of {sorted(bands['kind'].unique())}")
    rating_cn = rating.rating_name(rating_, kind, bands)
    label, members, sym = resolve_subject(subject, source)
    bench = parse_symbols([benchmark])[0]
    start = call_date - pd.Timedelta(days=14)
    end = call_date + pd.DateOffset(months=months)
    cal = source.calendar("cn_index")
    if call_date > cal[-1]:
        raise ParameterError(f"call_date {call_date.date()} is after the data ({cal[-1].date()})")
    end = min(end, cal[-1])
    company_table = load_basket(companies)
    subjects: list[Symbol] = members if members is not None else [sym] if sym is not None else []
    wanted = [*subjects, *company_table["symbol"], bench]
    prices = load_prices(list(dict.fromkeys(wanted)), start, end, source=source, strict=False)
    for row in prices.missing.itertuples():
        notice(f"{row.symbol}: {row.reason}")
    closes = prices.close()
    if bench.code not in closes:
        raise ParameterError(f"benchmark {benchmark} has no data around {call_date.date()}")
    if members is not None:
        have = [m.code for m in members if m.code in closes]
        subject_closes = baskets.equal_weight_index(closes[have].dropna(how="all")).level
    else:
        assert sym is not None  # a subject is a basket or a symbol
        if sym.code not in closes:
            raise ParameterError(f"subject {subject} has no data around {call_date.date()}: "
                                 + "; ".join(prices.missing["reason"]))
        subject_closes = closes[sym.code]
    main = rating.score(subject_closes, closes[bench.code], call_date, months, rating_cn, kind, bands, label)
    rows = []
    labels = names(list(company_table["symbol"]))
    for s in company_table["symbol"]:
        if s.code not in closes:
            continue
        sc = rating.score(closes[s.code], closes[bench.code], call_date, months, rating_cn, "company", bands,
                          f"{s.code} {labels[s]}")
        rows.append({**sc.row, "rating": "", "held": None})
    comp = pd.DataFrame(rows)
    return ScoreCard(subject, label, kind, rating_cn, bench.code, main, comp, bands, [prices])


def path_chart(card: ScoreCard) -> Figure:
    """The relative return path from the call date with the kind's bands shaded."""
    fig, ax = new_figure()
    path = card.main.path
    lo = min(path["relative_pct"].min(), -10) - 5
    hi = max(path["relative_pct"].max(), 10) + 5
    for b in card.bands[card.bands["kind"] == card.kind].itertuples():
        ax.axhspan(max(b.lower_pct, lo), min(b.upper_pct, hi), color=b.colour, zorder=0)
        mid = (max(b.lower_pct, lo) + min(b.upper_pct, hi)) / 2
        ax.text(1.0, mid, f" {b.rating} ({b.rating_en})", transform=ax.get_yaxis_transform(), fontsize=8,
                va="center", color=NEUTRAL)
    ax.plot(path["date"], path["relative_pct"], color="black", lw=1.6, label=card.subject_label)
    ax.set_ylim(lo, hi)
    ax.axhline(0, color=NEUTRAL, lw=0.8)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    r = card.main.row
    return finish(fig, f"{card.rating} ({card.kind}) from {r['call_date']}: return relative to {card.benchmark}",
                  card.source_line, xlabel="session", ylabel="subject minus benchmark, percentage points",
                  data=path)


def companies_chart(card: ScoreCard) -> Figure:
    c = card.companies.sort_values("relative_pct")
    fig, ax = new_figure(figsize=(8, 0.4 * len(c) + 1.8))
    ax.barh(c["subject"], c["relative_pct"], color=["#c0392b" if v >= 0 else "#1e8449" for v in c["relative_pct"]])
    for edge in (-15, -5, 5, 15):
        ax.axvline(edge, color=NEUTRAL, lw=0.8, ls=":")
    ax.axvline(0, color="black", lw=0.8)
    r = card.main.row
    ahead = int((c["relative_pct"] > 0).sum())
    return finish(fig, f"{ahead} of {len(c)} named companies beat {card.benchmark}, {r['call_date']} to "
                  f"{r['horizon_end']}", card.source_line,
                  xlabel="return minus benchmark, percentage points (dotted: company band edges)", ylabel="", data=c)


MAX_HORIZON_MONTHS = 120


def _horizon(name: str, value: object) -> int:
    """A rating's horizon in whole months, 1 to 120 (brokers' ratings run 6 to 12 months)."""
    months = checks.positive_int(name, value)
    if months > MAX_HORIZON_MONTHS:
        raise ParameterError(f"parameter {name}={months} is beyond {MAX_HORIZON_MONTHS} months; a rating's horizon "
                             "is usually 6 or 12 months")
    return months


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 07's parameters, checked once."""

    call_date: pd.Timestamp = parsed(checks.as_date)
    subject: str = parsed(checks.text)
    rating: str = parsed(checks.text)
    kind: str = parsed(checks.one_of("industry", "company"))
    benchmark: str = parsed(checks.text)
    horizon_months: int = parsed(_horizon)
    companies: str = parsed(checks.text)


def build(p: Params, source: PriceSource | None = None) -> ScoreCard:
    """Did the call hold: the subject against the benchmark over the horizon, against the rating bands."""
    with collect_notices() as notices:
        card = score_call(p.call_date, p.subject, p.rating, p.kind, p.benchmark, p.horizon_months, p.companies,
                          source or default_source())
    card.notices = notices
    return card
