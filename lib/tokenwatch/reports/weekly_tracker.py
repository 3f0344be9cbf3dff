"""The weekly tracker: member week returns by segment, overseas bellwethers' new highs, and the
reconciliation against the report's published figures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tokenwatch import params as checks
from tokenwatch import plots
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.artifacts import sources
from tokenwatch.errors import DataNotFoundError, ParameterError
from tokenwatch.market import Prices, PriceSource, default_source, load_prices
from tokenwatch.market.adjust import describe_actions
from tokenwatch.paths import data_dir
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.sessions import WeekWindow, trading_days, week_window
from tokenwatch.universe import Symbol, load_basket, names, parse_symbols, read_codes_csv

WEEK_COLUMNS = ["code", "name", "segment", "market", "prev_close_date", "prev_close", "close_date", "close",
                "return_pct", "raw_return_pct", "corporate_action"]
SEGMENT_COLUMNS = ["segment", "members", "with_data", "mean_pct", "median_pct", "best_code", "worst_code"]
HIGH_COLUMNS = ["symbol", "close_date", "close", "previous_high", "previous_high_date", "is_new_high"]
RECON_COLUMNS = ["code", "name", "published_pct", "computed_pct", "diff_pp", "within_precision", "note"]


def member_returns(basket: pd.DataFrame, window: WeekWindow,
                   source: PriceSource | None = None) -> tuple[pd.DataFrame, Prices]:
    """Every basket member's week return, adjusted and raw; members without data get a status, not a drop.

    Returns (table, prices). Table columns: WEEK_COLUMNS plus `status` ('ok' or why there is no return),
    `adj_note` (adjustment not confirmed complete) and `data_note` (the data ends inside the week).
    """
    source = source or default_source()
    # full history: rows after the week tell a suspension from data that ends
    prices = load_prices(basket["symbol"].tolist(), source=source, strict=False)
    absent = dict(zip(prices.missing["symbol"], prices.missing["reason"], strict=True))
    loaded = set(prices.frame["symbol"])
    rows = []
    for member in basket.itertuples(index=False):
        sym: Symbol = member.symbol
        row = {"code": sym.code, "name": member.name, "segment": member.segment, "market": sym.market,
               "status": "ok", "adj_note": "", "data_note": "", "corporate_action": ""}
        if sym.code not in loaded:
            row["status"] = f"no data: {absent.get(sym.code, 'not in the source')}"
            rows.append(row)
            continue
        series = prices.series(sym.code)
        close = series["close"]
        before, upto = close.loc[:window.prev_close], close.loc[:window.end]
        if upto.empty or upto.index[-1] < window.monday:
            last = close.index[-1].date()
            row["status"] = (f"no data in the week (data ends {last})" if close.index[-1] < window.end
                             else "no trade in the week (suspended)")
        elif before.empty:
            row["status"] = f"listed during the week (first close {close.index[0].date()})"
        if row["status"] != "ok":
            rows.append(row)
            continue
        p_date, p_close, c_date, c_close = before.index[-1], before.iloc[-1], upto.index[-1], upto.iloc[-1]
        adj = series["adj_close"]
        row.update(prev_close_date=p_date.date(), prev_close=p_close, close_date=c_date.date(), close=c_close,
                   raw_return_pct=(c_close / p_close - 1) * 100,
                   return_pct=(adj.loc[c_date] / adj.loc[p_date] - 1) * 100,
                   corporate_action=describe_actions(source.adj_factors(sym), p_date, c_date))
        if c_date < window.end:
            row["data_note"] = (
                f"data ends {c_date.date()}, before the week's last session {window.end.date()}"
                if close.index[-1] == c_date else
                f"no row for {window.end.date()}, the week's last session: this close is from {c_date.date()} "
                "(suspended, or a row missing from the data)")
        if sym.market == "cn" and not series["adj_complete"].loc[c_date]:
            through = source.adj_complete_through(sym)
            row["adj_note"] = ("ex-rights factors complete only through "
                               f"{through.date() if through is not None else 'an unknown date'}")
        rows.append(row)
    table = pd.DataFrame(rows)
    for col in WEEK_COLUMNS:
        if col not in table:
            table[col] = np.nan
    return table[[*WEEK_COLUMNS, "status", "adj_note", "data_note"]], prices


def segment_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per segment (in basket order): members, with data, equal-weighted mean and median, best and worst."""
    out = []
    for segment, part in table.groupby("segment", sort=False):
        ok = part.dropna(subset=["return_pct"])
        out.append({"segment": segment, "members": len(part), "with_data": len(ok),
                    "mean_pct": ok["return_pct"].mean() if len(ok) else np.nan,
                    "median_pct": ok["return_pct"].median() if len(ok) else np.nan,
                    "best_code": ok.loc[ok["return_pct"].idxmax(), "code"] if len(ok) else "",
                    "worst_code": ok.loc[ok["return_pct"].idxmin(), "code"] if len(ok) else ""})
    return pd.DataFrame(out, columns=SEGMENT_COLUMNS)


def segment_sentences(table: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """One generated line per segment, e.g. '景旺电子 led PCB/CCL at +22.63%'."""
    lookup = table.set_index("code")
    lines = []
    for s in summary.itertuples(index=False):
        if not s.with_data:
            lines.append(f"{s.segment}: no member has a return this week")
            continue
        best, worst = lookup.loc[s.best_code], lookup.loc[s.worst_code]
        line = (f"{best['name']} led {s.segment} at {best['return_pct']:+.2f}% "
                f"(segment mean {s.mean_pct:+.2f}%, median {s.median_pct:+.2f}%")
        line += f"; weakest {worst['name']} {worst['return_pct']:+.2f}%)" if s.with_data > 1 else ")"
        if s.with_data < s.members:
            line += f"; {s.members - s.with_data} member(s) without a return"
        lines.append(line)
    return lines


def new_highs(symbols: list, window: WeekWindow, lookback: str = "all",
              source: PriceSource | None = None) -> tuple[pd.DataFrame, pd.DataFrame, Prices]:
    """Overseas bellwethers: week return and whether the week's best close beat the prior high.

    `lookback` is 'all' (all history in the data) or '52w'. Returns (highs, week returns, prices).
    Highs compare closes (split-adjusted price, as records are quoted); returns use adjusted closes.
    """
    source = source or default_source()
    syms = parse_symbols(symbols)
    prices = load_prices(syms, None, window.end, source=source, strict=False)
    highs, rets = [], []
    loaded = set(prices.frame["symbol"])
    for sym in syms:
        if sym.code not in loaded:
            continue
        s = prices.series(sym.code)
        # the overseas week: sessions from the Monday of the week through the window end (local dates)
        week = s.loc[window.monday:window.end]
        start = window.end - pd.DateOffset(weeks=52) if lookback == "52w" else s.index[0]
        before = s.loc[start:window.monday - pd.Timedelta(days=1)]
        if week.empty or before.empty:
            continue
        best_day = week["close"].idxmax()
        prev_day = before["close"].idxmax()
        highs.append({"symbol": sym.code, "close_date": best_day.date(), "close": week.loc[best_day, "close"],
                      "previous_high": before.loc[prev_day, "close"], "previous_high_date": prev_day.date(),
                      "is_new_high": bool(week.loc[best_day, "close"] > before.loc[prev_day, "close"])})
        adj, raw = s["adj_close"], s["close"]
        rets.append({"symbol": sym.code, "name": names([sym])[sym], "prev_close_date": before.index[-1].date(),
                     "close_date": week.index[-1].date(),
                     "return_pct": (adj.loc[week.index[-1]] / adj.loc[before.index[-1]] - 1) * 100,
                     "raw_return_pct": (raw.loc[week.index[-1]] / raw.loc[before.index[-1]] - 1) * 100})
    return pd.DataFrame(highs, columns=HIGH_COLUMNS), pd.DataFrame(rets), prices


def published_figures(path=None) -> pd.DataFrame:
    """The report's printed figures (data/report_figures.csv), each with its source."""
    table = read_codes_csv(path or data_dir() / "report_figures.csv")
    for col in ["period_start", "period_end"]:
        table[col] = pd.to_datetime(table[col])
    return table


def reconcile(table: pd.DataFrame, window: WeekWindow, figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published vs computed week returns for a week the report covered (empty frame otherwise)."""
    figures = published_figures() if figures is None else figures
    pub = figures.loc[(figures["figure"] == "week_return") & (figures["period_end"] == window.end)]
    if pub.empty:
        return pd.DataFrame(columns=RECON_COLUMNS)
    computed = table.set_index("code")
    out = []
    for f in pub.itertuples(index=False):
        row = {"code": f.code, "name": f.name, "published_pct": float(f.published_value)}
        if f.code not in computed.index or pd.isna(computed.loc[f.code, "return_pct"]):
            status = computed.loc[f.code, "status"] if f.code in computed.index else "not in the basket"
            row.update(computed_pct=np.nan, diff_pp=np.nan, within_precision=False, note="no computed return: "
                                                                                         f"{status}")
            out.append(row)
            continue
        c = computed.loc[f.code]
        decimals = max(0, -int(math.floor(math.log10(float(f.precision)))))
        within = round(c["return_pct"], decimals) == round(float(f.published_value), decimals)
        raw_within = round(c["raw_return_pct"], decimals) == round(float(f.published_value), decimals)
        notes = []
        if c["corporate_action"]:
            notes.append(f"{c['corporate_action']}; raw return {c['raw_return_pct']:+.2f}%"
                         + (" also matches" if raw_within else " does not match: ex-rights adjustment needed"))
        if not within:
            notes.append("miss: check the price basis (raw vs adjusted) and the corporate actions in the week")
        if float(f.precision) != 0.01:
            notes.append(f"published to {f.precision}")
        row.update(computed_pct=c["return_pct"], diff_pp=c["return_pct"] - float(f.published_value),
                   within_precision=bool(within), note="; ".join(notes))
        out.append(row)
    return pd.DataFrame(out, columns=RECON_COLUMNS)


def segment_chart(table: pd.DataFrame, window: WeekWindow, source_line: str):
    """One bar panel per segment: member week returns in percent."""
    ok = table.dropna(subset=["return_pct"])
    segments = list(dict.fromkeys(table["segment"]))
    cols = 3 if len(segments) > 4 else max(1, len(segments))
    rows = math.ceil(len(segments) / cols)
    plots.use_style()
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, seg in zip(axes.flat, segments, strict=False):
        part = ok.loc[ok["segment"] == seg].sort_values("return_pct", ascending=False)
        ax.bar(part["name"], part["return_pct"], color=plots.bar_colors(part["return_pct"]))
        ax.set_title(seg, fontsize=10)
        ax.set_ylabel("week return (%)")
        ax.tick_params(axis="x", rotation=45, labelsize=8)
        ax.axhline(0, color=plots.NEUTRAL, lw=0.8)
    for ax in list(axes.flat)[len(segments):]:
        ax.set_visible(False)
    means = ok.groupby("segment")["return_pct"].mean().sort_values()
    lead = f": {means.index[-1]} led ({means.iloc[-1]:+.1f}% on average)" if len(means) else ""
    title = (f"Compute-chain week returns by segment, {window.prev_close.date()} close to {window.end.date()} "
             f"close{lead}")
    fig.suptitle(title)
    plots.sign_key(axes.flat[0])
    plots.source_note(fig, source_line)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return plots.publish(fig, ok[["segment", "name", "code", "return_pct"]], "segment_chart", title)


def ranked_chart(table: pd.DataFrame, window: WeekWindow, source_line: str):
    """All names ranked by week return."""
    ok = table.dropna(subset=["return_pct"]).sort_values("return_pct")
    fig, ax = plots.new_figure(figsize=(8, max(4, 0.28 * len(ok) + 1)))
    ax.barh(ok["name"] + " " + ok["code"], ok["return_pct"], color=plots.bar_colors(ok["return_pct"]))
    ax.axvline(0, color=plots.NEUTRAL, lw=0.8)
    up = int((ok["return_pct"] > 0).sum())
    return plots.finish(fig, f"{up} of {len(ok)} names rose in the week ending {window.end.date()}", source_line,
                        xlabel="week return, ex-rights adjusted (%)", data=ok[["name", "code", "return_pct"]])


@dataclass
class WeekReport(Report):
    """Everything the weekly tracker shows for one week, and how it is written to a run folder."""

    run_name: ClassVar[str] = "weekly_tracker"
    window: WeekWindow
    basket: str
    lookback: str
    members: pd.DataFrame
    segments: pd.DataFrame
    highs: pd.DataFrame
    overseas: pd.DataFrame  # week returns joined with the new-high test
    overseas_requested: list[str]
    reconciliation: pd.DataFrame
    cn_prices: Prices
    overseas_prices: Prices
    notices: list[str] = field(default_factory=list)

    @property
    def sentences(self) -> list[str]:
        return segment_sentences(self.members, self.segments)

    @property
    def without_return(self) -> pd.DataFrame:
        return self.members.loc[self.members["status"] != "ok", ["code", "name", "status"]]

    @property
    def notes(self) -> pd.DataFrame:
        """Members whose return carries a caveat (adjustment incomplete, data ending in the week)."""
        m = self.members
        return m.loc[(m["adj_note"] != "") | (m["data_note"] != ""), ["code", "name", "adj_note", "data_note"]]

    @property
    def new_high_symbols(self) -> list[str]:
        return self.highs.loc[self.highs["is_new_high"], "symbol"].tolist()

    @property
    def overseas_missing(self) -> list[str]:
        return sorted(set(self.overseas_requested) - set(self.highs["symbol"]))

    def new_highs_headline(self) -> str:
        """The bellwethers that made new highs, saying how many had data for the week."""
        n, have = len(self.overseas_requested), len(self.highs)
        if not have:
            return f"no data for the week: {', '.join(self.overseas_requested)}"
        named = ", ".join(self.new_high_symbols) or "none"
        return named if have == n else f"{named} ({have}/{n} with data; none for {', '.join(self.overseas_missing)})"

    @property
    def source_line(self) -> str:
        return f"Source: {self.cn_prices.source_line()}. Returns ex-rights adjusted. tokenwatch weekly_tracker."

    def summary(self) -> dict:
        recon = self.reconciliation
        matched = {"matched": int(recon["within_precision"].sum()), "total": len(recon)} if len(recon) else None
        w = self.window
        return {
            "notebook": "weekly_tracker",
            "week": {"requested": w.requested, "start": w.sessions[0], "end": w.end, "prev_close": w.prev_close},
            "basket": self.basket,
            "headline": {**{f"{s.segment} mean %": _counted(s.mean_pct, s.with_data, s.members)
                            for s in self.segments.itertuples()},
                         "new highs": self.new_highs_headline(),
                         **({"reconciled": f"{matched['matched']}/{matched['total']}"} if matched else {})},
            "segments": self.segments.to_dict("records"),
            "without_return": self.without_return.to_dict("records"),
            "new_highs": self.new_high_symbols,
            "new_high_lookback": self.lookback,
            "reconciliation": matched,
            "sources": sources(self.cn_prices.provenance, self.overseas_prices.provenance),
            "notices": self.notices,
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """week_returns, segments, new_highs, and reconciliation for a week the report covered."""
        out = {"week_returns": cols(self.members, WEEK_COLUMNS, "week_returns"),
               "segments": cols(self.segments, SEGMENT_COLUMNS, "segments"),
               "new_highs": cols(self.highs, HIGH_COLUMNS, "new_highs")}
        if len(self.reconciliation):
            out["reconciliation"] = cols(self.reconciliation, RECON_COLUMNS, "reconciliation")
        return out

    @property
    def findings(self) -> list[str]:
        seg = self.segments.dropna(subset=["mean_pct"]).sort_values("mean_pct", ascending=False)
        w = self.window
        lines = [f"Week {w.sessions[0].date()} to {w.end.date()}: {seg.iloc[0]['segment']} led at "
                 f"{seg.iloc[0]['mean_pct']:+.2f}% (equal-weight mean of {seg.iloc[0]['with_data']} names), "
                 f"{seg.iloc[-1]['segment']} trailed at {seg.iloc[-1]['mean_pct']:+.2f}%."]
        best = self.members.dropna(subset=["return_pct"]).sort_values("return_pct").iloc[-1]
        lines.append(f"Best name: {best['name']} ({best['code']}) {best['return_pct']:+.2f}%.")
        if len(self.reconciliation):
            r = self.reconciliation
            lines.append(f"{int(r['within_precision'].sum())} of {len(r)} figures the weekly printed for this week "
                         "reproduce within their precision.")
        lines.append(f"New closing highs among the bellwethers: {self.new_highs_headline()}.")
        if n := len(self.without_return):
            lines.append(f"{n} of {len(self.members)} names have no return this week: "
                         + ", ".join(f"{r.code} ({r.status})" for r in self.without_return.itertuples()) + ".")
        return lines


def _counted(mean: float, with_data: int, members: int) -> str:
    """A segment mean with how many members it averages: '+10.82 (8/8)'."""
    return f"{mean:+.2f} ({with_data}/{members})" if with_data else f"no data (0/{members})"


def track_week(basket: str, window: WeekWindow, overseas: list, lookback: str = "all",
               source: PriceSource | None = None) -> WeekReport:
    """The tracker's whole computation for one week: members, segments, bellwethers, reconciliation."""
    source = source or default_source()
    members, cn_prices = member_returns(load_basket(basket), window, source)
    if members["return_pct"].isna().all():
        reasons = "; ".join(f"{r.code}: {r.status}" for r in members.head(5).itertuples())
        raise DataNotFoundError(f"no member of basket {basket} has a return for the week ending "
                                f"{window.end.date()} ({reasons}{'; ...' if len(members) > 5 else ''}); check "
                                "TOKENWATCH_SNAPSHOT or fetch the basket (`tokenwatch data fetch --universe ...`)")
    segments = segment_summary(members)
    highs, rets, us_prices = new_highs(overseas, window, lookback, source)
    joined = rets.merge(highs, on="symbol", how="left") if len(rets) else rets
    requested = [s.code for s in parse_symbols(overseas)]
    return WeekReport(window, str(basket), lookback, members, segments, highs, joined, requested,
                      reconcile(members, window), cn_prices, us_prices)


def _basket(name: str, value: object) -> str:
    """A basket name, a path, or codes inline ('cn:603228,cn:300476'); a missing basket or malformed file is
    refused now, naming the parameter."""
    try:
        load_basket(checks.text(name, value))
    except ParameterError as exc:
        raise ParameterError(f"parameter {name}: {exc}") from None
    return str(value)


def _symbols(name: str, value: object) -> list[str]:
    items = checks.nonempty_text_list(name, value)
    parse_symbols(items)
    return items


LATEST = "latest"


def _week_end(name: str, value: object) -> pd.Timestamp | None:
    """A date as 'YYYY-MM-DD', or 'latest' (None here): the last session in the data, resolved by `build`."""
    return None if isinstance(value, str) and value.strip().lower() == LATEST else checks.as_date(name, value)


def latest_session(basket: str, days: pd.DatetimeIndex, source: PriceSource) -> pd.Timestamp:
    """What week_end "latest" means: the last session in the basket's data (the latest close of any member, within
    the calendar), with a notice giving it and the members whose data ends before it."""
    prices = load_prices(load_basket(basket)["symbol"].tolist(), source=source, strict=False)
    if prices.frame.empty:
        raise DataNotFoundError(f"no member of basket {basket} has prices; check TOKENWATCH_SNAPSHOT or fetch the "
                                "basket (`tokenwatch data fetch --universe ...`)")
    ends = prices.frame.groupby("symbol")["date"].max()
    latest = days[days <= ends.max()][-1]
    earlier = ends[ends < latest]
    notice(f"week_end \"{LATEST}\" is the last session in the basket's data: {latest.date()} (the calendar runs to "
           f"{days[-1].date()})" + (f"; {len(earlier)} of {len(ends)} members' data end earlier, from "
                                     f"{earlier.min().date()}" if len(earlier) else ""))
    return latest


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 01's parameters, checked once."""

    week_end: pd.Timestamp | None = parsed(_week_end)  # None: "latest"
    baskets: str = parsed(_basket)
    overseas: list[str] = parsed(_symbols)
    high_lookback: str = parsed(checks.one_of("all", "52w"))


def build(p: Params, source: PriceSource | None = None) -> WeekReport:
    """The weekly tracker for the week ending on (or last trading day before) `p.week_end`, or the week of the last
    session in the basket's data when it is "latest" (`latest_session`)."""
    source = source or default_source()
    with collect_notices() as notices:
        days = trading_days("cn", source)
        window = week_window(latest_session(p.baskets, days, source) if p.week_end is None else p.week_end, days)
        if window.snapped:
            notice(window.notice())
        report = track_week(p.baskets, window, p.overseas, p.high_lookback, source)
    report.notices = notices
    return report
