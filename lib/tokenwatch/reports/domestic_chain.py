"""The domestic chain notebook's work: the basket index against CSI 300 and the overseas chain, token
milestones from the ledger, rolling correlation and beta, and the clock-respecting lead-lag analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tokenwatch import params as checks
from tokenwatch.artifacts import prices_line, sources
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.errors import ParameterError
from tokenwatch.market import Prices, PriceSource, default_source, load_prices
from tokenwatch.methods import baskets, clock, leadlag
from tokenwatch.paths import data_file
from tokenwatch.plots import NEUTRAL, finish, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.sessions import last_on_or_before
from tokenwatch.tokens import as_of, load_ledger, tokens_only
from tokenwatch.tokens.periods import central
from tokenwatch.universe import load_basket, parse_symbols
from tokenwatch.universe import names as display_names

BASKET_COLUMNS = ["date", "basket", "benchmark", "overseas"]
ROLLING_DAYS = 60


@dataclass
class ChainMonitor(Report):
    run_name: ClassVar[str] = "domestic_chain"
    basket_name: str
    benchmark: str
    overseas: list[str]
    index: pd.DataFrame  # BASKET_COLUMNS, rebased to 100
    basket: baskets.BasketIndex
    names: dict[str, str]
    rolling: pd.DataFrame
    lead_lag: pd.DataFrame
    lag_text: str
    milestones: pd.DataFrame
    prices: list[Prices]
    notices: list[str] = field(default_factory=list)
    benchmark_name: str = ""  # the benchmark's name from the universe, shown before its code

    @property
    def source_line(self) -> str:
        return prices_line(self.prices, f"token milestones: {data_file('tokens/disclosures.csv')}")

    def returns_table(self) -> pd.DataFrame:
        last = self.index.iloc[-1]
        return pd.DataFrame({"series": ["basket", "benchmark", "overseas"],
                             "return_pct": [last["basket"] - 100, last["benchmark"] - 100, last["overseas"] - 100]})

    def contributions(self) -> pd.DataFrame:
        c = self.basket.contributions
        return (pd.DataFrame({"code": c.index, "name": [self.names.get(k, k) for k in c.index],
                              "contribution_pp": c.to_numpy()})
                .sort_values("contribution_pp", ascending=False).reset_index(drop=True))

    def summary(self) -> dict:
        r = self.returns_table().set_index("series")["return_pct"]
        best = self.lead_lag.loc[self.lead_lag["correlation"].abs().idxmax()]
        return {
            "notebook": "domestic_chain", "basket": self.basket_name, "benchmark": self.benchmark,
            "overseas": self.overseas, "start": self.index["date"].iloc[0], "end": self.index["date"].iloc[-1],
            "returns_pct": r.to_dict(), "excess_over_benchmark_pp": r["basket"] - r["benchmark"],
            "contributions_pp": self.basket.contributions.to_dict(),
            "strongest_lag": int(best["lag_days"]), "strongest_correlation": float(best["correlation"]),
            "lead_lag_statement": self.lag_text, "notices": self.notices,
            "headline": {"basket %": round(r["basket"], 1), "CSI 300 %": round(r["benchmark"], 1),
                         "overseas %": round(r["overseas"], 1), "lag that matters": int(best["lag_days"])},
            "sources": sources(*(p.provenance for p in self.prices)),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"basket_index": cols(self.index, BASKET_COLUMNS, "basket_index"),
                "lead_lag": cols(self.lead_lag, leadlag.LEAD_LAG_COLUMNS, "lead_lag"),
                "contributions": self.contributions(),
                "rolling_beta": self.rolling.reset_index(names="date")}

    @property
    def findings(self) -> list[str]:
        r = self.returns_table().set_index("series")["return_pct"]
        start, end = self.index["date"].iloc[0], self.index["date"].iloc[-1]
        top = self.basket.contributions.sort_values().index[-1]
        bench = (f"{self.benchmark_name} ({self.benchmark})" if self.benchmark_name not in ("", self.benchmark)
                 else self.benchmark)
        return [f"From {start} to {end} the {self.basket_name.replace('_', ' ')} basket returned {r['basket']:+.1f}% "
                f"against {r['benchmark']:+.1f}% for {bench}: {r['basket'] - r['benchmark']:+.1f} pp.",
                f"The overseas chain ({', '.join(self.overseas)}) returned {r['overseas']:+.1f}% in USD.",
                f"Largest contribution: {self.names.get(top, top)} ({top}), {self.basket.contributions[top]:+.1f} pp "
                "of the basket's return.",
                self.lag_text]


def monitor(basket: str, benchmark: str, overseas: list[str], start: pd.Timestamp, end: pd.Timestamp | None,
            milestone_series: list[str], source: PriceSource) -> ChainMonitor:
    """Build everything the domestic chain notebook shows."""
    table = load_basket(basket)
    bench = parse_symbols([benchmark])[0]
    over = parse_symbols(overseas)
    if any(s.market != "us" for s in over):
        raise ParameterError(f"overseas should be US symbols such as ['NVDA', 'AVGO']; got {overseas}")
    cn_days = source.calendar("cn")
    us_days = source.calendar("us")
    us_prices = load_prices(over, None, None, source=source)
    us_close = us_prices.close()
    us_last = us_close.dropna().index[-1]
    latest = clock.last_aligned_day(cn_days, us_days, us_last)
    if end is None:
        end = min(latest, cn_days[-1])
        notice(f"end defaults to {end.date()}, the last A-share session with overseas prices the night before")
    end = last_on_or_before(cn_days, end)
    if end > latest:
        raise ParameterError(f"end {end.date()} is after {latest.date()}, the last A-share session whose previous "
                             f"US close ({us_last.date()}) is in the overseas data; pick an earlier end")
    start = cn_days[cn_days.searchsorted(start)]
    if start >= end:
        raise ParameterError(f"start {start.date()} is not before end {end.date()}")
    cn = load_prices([*table["symbol"], bench], start, end, source=source, strict=False)
    for row in cn.missing.itertuples():
        notice(f"{row.symbol}: {row.reason}")
    closes = cn.close().reindex(cn_days[(cn_days >= start) & (cn_days <= end)])
    if bench.code not in closes or closes[bench.code].isna().any():
        raise ParameterError(f"benchmark {benchmark} lacks closes between {start.date()} and {end.date()}")
    member_closes = closes.drop(columns=[bench.code])
    idx = baskets.equal_weight_index(member_closes)
    for row in idx.gaps.itertuples():
        notice(f"{row.member} has no close on {row.sessions_missing} session(s) between {row.first_missing} "
                       f"and {row.last_missing}; it sits out those sessions (basket rule)")
    overseas_index = baskets.equal_weight_index(us_close)  # the same basket rule as the A-share basket
    us_level = overseas_index.level.rename("overseas")
    aligned = clock.align_overseas(us_level, closes.index, us_days)
    index = pd.DataFrame({"date": closes.index.date, "basket": idx.level.to_numpy(),
                          "benchmark": baskets.rebased(closes[bench.code]).to_numpy(),
                          "overseas": baskets.rebased(aligned).to_numpy()})
    us_returns = overseas_index.returns
    seen = clock.lagged_us(us_returns, idx.returns.index, 1)
    lead = leadlag.lead_lag(idx.returns, us_returns)
    milestones = token_milestones(milestone_series, start, end)
    names = dict(zip(table["code"], table["name"], strict=True))
    return ChainMonitor(basket, bench.code, [s.code for s in over], index, idx, names,
                        leadlag.rolling_beta(idx.returns, seen, ROLLING_DAYS), lead,
                        leadlag.lag_that_matters(lead), milestones, [cn, us_prices],
                        benchmark_name=display_names([bench])[bench])


def token_milestones(series: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Token disclosures of the given series made public between start and end, for the chart."""
    ledger = tokens_only(as_of(load_ledger(), end))
    unknown = sorted(set(series) - set(ledger["series"]))
    if unknown:
        raise ParameterError(f"milestone series {unknown} are not in the token ledger; series: "
                             f"{sorted(ledger['series'].unique())}")
    rows = ledger[ledger["series"].isin(series) & (ledger["public_from"] >= start)]
    mid = central(rows["per_day_low"], rows["per_day_high"])
    return pd.DataFrame({"date": rows["public_from"], "series": rows["series"], "tokens_per_day": mid,
                         "label": [f"{s} {v / 1e12:.3g}T/day" for s, v in zip(rows["series"], mid, strict=True)],
                         "source_url": rows["source_url"]}).sort_values("date").reset_index(drop=True)


def index_chart(m: ChainMonitor, title: str | None = None) -> Figure:
    fig, ax = new_figure(figsize=(10, 5.4))
    dates = pd.to_datetime(m.index["date"])
    ax.plot(dates, m.index["basket"], color="#c0392b", lw=2, label=f"basket ({m.basket_name}, equal weight)")
    bench = parse_symbols([m.benchmark])[0]
    ax.plot(dates, m.index["benchmark"], color="black", lw=1.5, label=f"{display_names([bench])[bench]} ({bench.code})")
    ax.plot(dates, m.index["overseas"], color="#2e86c1", lw=1.3,
            label=f"overseas chain ({', '.join(m.overseas)}, USD, previous US close)")
    for i, row in enumerate(m.milestones.itertuples()):
        ax.axvline(row.date, color=NEUTRAL, lw=0.8, ls=":")
        ax.text(row.date, 0.98 - 0.05 * (i % 6), row.label, transform=ax.get_xaxis_transform(), fontsize=7,
                color=NEUTRAL, ha="left", va="top", rotation=0)
    ax.legend(fontsize=8, frameon=False, loc="center left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    last = m.index.iloc[-1]
    found = (f"Domestic compute basket {last['basket'] - 100:+.1f}% against {last['benchmark'] - 100:+.1f}% for the "
             f"benchmark and {last['overseas'] - 100:+.1f}% overseas (token milestones dotted)")
    return finish(fig, title or found,
                  m.source_line, xlabel="A-share session", ylabel="index, first session = 100", data=m.index)


def contribution_chart(m: ChainMonitor) -> Figure:
    c = m.contributions().sort_values("contribution_pp")
    fig, ax = new_figure(figsize=(8, 0.4 * len(c) + 1.8))
    ax.barh([f"{n} {k}" for k, n in zip(c["code"], c["name"], strict=True)], c["contribution_pp"],
            color=["#c0392b" if v >= 0 else "#1e8449" for v in c["contribution_pp"]])
    ax.axvline(0, color="black", lw=0.8)
    top = c.iloc[-1]
    return finish(fig, f"{top['name']} added most to the basket's return ({top['contribution_pp']:+.1f} pp)",
                  m.source_line, xlabel="contribution, percentage points (sums to the basket's return)", ylabel="",
                  data=c)


def rolling_chart(m: ChainMonitor) -> Figure:
    fig, ax = new_figure()
    ax.plot(m.rolling.index, m.rolling["correlation"], color="#2e86c1", label="correlation")
    ax.plot(m.rolling.index, m.rolling["beta"], color="#c0392b", label="beta")
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(fontsize=8, frameon=False)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    last = m.rolling.dropna(how="all").iloc[-1] if len(m.rolling.dropna(how="all")) else None
    found = "" if last is None else (f": at the end, correlation {last['correlation']:+.2f} and beta "
                                     f"{last['beta']:.2f}")
    return finish(fig, f"Rolling {ROLLING_DAYS}-session correlation and beta to the overseas chain (night before)"
                  + found,
                  m.source_line, xlabel="A-share session", ylabel="correlation / beta (unitless)", data=m.rolling)


def lead_lag_chart(m: ChainMonitor) -> Figure:
    fig, ax = new_figure()
    t = m.lead_lag
    ax.bar(t["lag_days"], t["correlation"], color=["#2e86c1" if k >= 1 else "#aab7b8" for k in t["lag_days"]])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(t["lag_days"])
    ax.legend([Patch(color="#2e86c1"), Patch(color="#aab7b8")], ["US earlier (k >= 1): could lead",
                                                                "same night or US after (k <= 0)"],
              fontsize=8, frameon=False)
    best = t.loc[t["correlation"].abs().idxmax()]
    return finish(fig, f"Basket and overseas returns correlate most at lag {int(best['lag_days'])} US sessions "
                  f"({best['correlation']:+.2f})",
                  m.source_line, xlabel="lag k in US sessions (1 = the night before; 0 and below: US after)",
                  ylabel="correlation of daily returns", data=t)


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 06's parameters, checked once."""

    start: pd.Timestamp = parsed(checks.as_date)
    end: pd.Timestamp | None = parsed(checks.date_or_none)
    basket: str = parsed(checks.text)
    benchmark: str = parsed(checks.text)
    overseas: list[str] = parsed(checks.text_list)
    milestone_series: list[str] = parsed(checks.text_list)


def build(p: Params, source: PriceSource | None = None) -> ChainMonitor:
    """The domestic chain against its benchmark and the overseas chain, on the clock."""
    with collect_notices() as notices:
        report = monitor(p.basket, p.benchmark, p.overseas, p.start, p.end, p.milestone_series,
                         source or default_source())
    report.notices = notices
    return report
