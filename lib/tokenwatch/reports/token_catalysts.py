"""Notebook 08: do A-share compute names react to token news, and more or less than to capex news?

Events are every token disclosure in the ledger dated to the day (Doubao and Volcano Engine, the National Data
Administration, Google, Microsoft, NVIDIA, OpenAI, OpenRouter...), one event per entity and day, each on the first
A-share session that can react to it by the clock rule of data/events.csv (a Beijing-time disclosure after 15:00
moves the next session; a US-time one the next A-share session). The comparison is the capex and earnings events
of data/events.csv on the same clock. Subjects are the report's nine names and each segment of the compute-chain
basket (equal-weight), with a market model against CSI 300 per subject and event session, estimated on sessions
[-130, -11] around day 0; tests are those of the rally replay, with confounded sessions marked, clean-session results
and the category-dummy decomposition, and the checks a referee asks for: a placebo on non-event sessions, a pre-event
window, a bootstrap over event sessions and p-values adjusted for the many tests. The answer rests on the placebo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.artifacts import sources
from tokenwatch.errors import ParameterError
from tokenwatch.market import Prices, PriceSource, default_source, load_prices
from tokenwatch.methods import eventpanel, eventstudy
from tokenwatch.methods.eventmodels import MARKET_MODEL
from tokenwatch.methods.eventpanel import p_eq, p_text
from tokenwatch.paths import data_file
from tokenwatch.plots import finish, grouped_barh, new_figure
from tokenwatch.reports import catalyst_events
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.reports.catalyst_events import TOKENS, comparison_events, lead_lag_note, token_events
from tokenwatch.tokens.ledger import load_ledger
from tokenwatch.universe import load_basket, parse_symbols

CATALYST_COLUMNS = ["event_date", "session_date", "category", "entity", "headline", "time_assumed", "confounded",
                    "window"]
LEFT_OUT_COLUMNS = catalyst_events.LEFT_OUT_COLUMNS
ALPHA = 0.05


@dataclass
class CatalystReport(Report):
    run_name: ClassVar[str] = "token_catalysts"
    subjects: dict[str, str]  # column -> display name
    benchmark: str
    events: pd.DataFrame  # every event tested, with its A-share session
    left_out: pd.DataFrame  # LEFT_OUT_COLUMNS
    study: eventstudy.EventStudy
    windows: list[tuple[int, int]]
    comparison: list[str]
    lead_lag: dict[str, object]
    prices: list[Prices] = field(default_factory=list)
    estimation_window: tuple[int, int] = (-130, -11)
    min_estimation: int = 100
    pre_event: tuple[int, int] | None = (-10, -1)
    notices: list[str] = field(default_factory=list)

    @property
    def window(self) -> tuple[int, int]:
        """The longest window: where the verdict is read."""
        return max(self.windows, key=lambda w: w[1] - w[0])

    def catalysts(self) -> pd.DataFrame:
        """catalysts.csv: one row per event and window, one CAR column (%) per subject."""
        res = self.study.results
        wide = res.pivot_table(index=["event_date", "session_date", "category", "entity", "window"],
                               columns="symbol", values="car_pct", sort=True).reset_index()
        wide = wide.rename(columns={c: f"car_pct_{self.subjects.get(c, c)}" for c in self.subjects})
        meta = self.events.assign(event_date=self.events["date"].dt.date,
                                  session_date=self.events["session_date"].dt.date)
        meta = meta[["event_date", "session_date", "category", "entity", "headline", "time_assumed"]].drop_duplicates(
            ["event_date", "session_date", "category", "entity"])
        confounded = set(self.study.sessions.loc[self.study.sessions["confounded"], "session_date"].dt.date)
        out = wide.merge(meta, on=["event_date", "session_date", "category", "entity"], how="left")
        out["confounded"] = out["session_date"].isin(confounded)
        cars = [c for c in out.columns if c.startswith("car_pct_")]
        return out[[*CATALYST_COLUMNS, *cars]]

    def tests_table(self) -> pd.DataFrame:
        return cols(self.study.tests, eventstudy.TEST_COLUMNS, "tests")

    def answer(self) -> dict[str, object]:
        """The verdict in numbers, in the longest window on all subjects: for token news and each comparison, the
        mean CAR with every test's p and adjusted p, the placebo's, the pre-event window's; the difference from
        capex news (decomposition)."""
        w = eventstudy.label(self.window)
        st = self.study
        dec = st.decomposition[st.decomposition["window"] == w].set_index("category")
        out: dict[str, object] = {"window": w, "adjustment": st.adjustment, "rests_on": eventpanel.PLACEBO_CAR}
        for cat in [TOKENS, *self.comparison]:
            here = st.tests[(st.tests["category"] == cat) & (st.tests["window"] == w)]
            part = here[here["sample"].isin([eventstudy.ALL, eventstudy.REGRESSION])
                        & (here["model"] == MARKET_MODEL)]
            others = here[(here["sample"] == eventstudy.ALL) & (here["model"] != MARKET_MODEL)
                          & (here["test"] == eventpanel.T_TEST)]
            if part.empty:
                continue
            p = part.set_index("test")
            placebo = p.loc[eventpanel.PLACEBO_CAR]
            row: dict[str, object] = {
                "car_pct": float(placebo["car_pct"]), "sessions": int(placebo["sessions"]),
                "observations": int(placebo["observations"]),
                "clean_sessions": int(dec.at[cat, "clean_sessions"]) if cat in dec.index else 0,
                "car_pct_decomposition": float(dec.at[cat, "car_pct"]) if cat in dec.index else np.nan,
                "p": {t: float(v) for t, v in p["p_value"].items()},
                "p_adjusted": {t: float(v) for t, v in p["p_adjusted"].items()},
                "placebo_mean_car_pct": self._placebo(cat, w).get("placebo_mean_car_pct", np.nan),
                "moves": bool(placebo["p_adjusted"] < ALPHA),
                "other_models": {r.model: {"car_pct": float(r.car_pct), "p_value": float(r.p_value)}
                                 for r in others.itertuples()}}
            if self.pre_event is not None:
                pre = eventstudy.label(self.pre_event)
                before = st.row(eventpanel.PLACEBO_CAR, cat, pre)
                row["pre_event"] = {"window": pre, "p_bmp": float(st.row("BMP", cat, pre)["p_value"]),
                                    **{k: float(before[k]) for k in ("car_pct", "p_value", "p_adjusted")}}
            out[cat] = row
        if TOKENS in dec.index and "capex" in dec.index:
            out["tokens_minus_capex"] = self.study.compare(self.window, TOKENS, "capex")
        return out

    def _placebo(self, cat: str, window: str) -> dict:
        hit = self.study.placebo[(self.study.placebo["category"] == cat) & (self.study.placebo["window"] == window)]
        return hit.iloc[0].to_dict() if len(hit) else {}

    def verdict(self) -> str:
        a = self.answer()
        tok = a.get(TOKENS)
        if not isinstance(tok, dict):
            return "No token event falls inside the prices: nothing to test."
        p, adj = tok["p"], tok["p_adjusted"]
        moves = "moves" if tok["moves"] else "does not detectably move"
        text = (f"Token news {moves} the domestic chain: a mean CAR of {tok['car_pct']:+.2f}% over {a['window']} on "
                f"{tok['sessions']} sessions ({tok['observations']} subject-sessions, a market model per event); "
                f"placebo p = {p[eventpanel.PLACEBO_CAR]:.3f} (adjusted {adj[eventpanel.PLACEBO_CAR]:.3f}; random "
                f"non-event sessions average {tok['placebo_mean_car_pct']:+.2f}%) against parametric BMP p "
                f"{p_eq(p['BMP'])} (adjusted {p_text(adj['BMP'])}) and Kolari-Pynnonen p "
                f"{p_eq(p['Kolari-Pynnonen BMP'])} (adjusted {p_text(adj['Kolari-Pynnonen BMP'])}). The answer rests "
                "on the placebo's adjusted p "
                f"({a['adjustment']}).")
        diff = a.get("tokens_minus_capex")
        capex = a.get("capex")
        if isinstance(diff, dict) and isinstance(capex, dict):
            word = "more" if diff["difference_pct"] > 0 else "less"
            sig = "significantly" if diff["p_value"] < ALPHA else "not significantly"
            text += (f" Against capex news ({capex['sessions']} sessions), token news moves it {word}, {sig}: in the "
                     f"decomposition, which counts each day once, {tok['car_pct_decomposition']:+.2f}% against "
                     f"{capex['car_pct_decomposition']:+.2f}%, a difference of {diff['difference_pct']:+.2f} pp (p = "
                     f"{diff['p_value']:.3f}).")
        return text

    def disagreement(self) -> str:
        """Which tests of token news reject at 5% and which do not, in the longest window, said plainly; and the
        pre-event window's test."""
        a = self.answer()
        tok = a.get(TOKENS)
        if not isinstance(tok, dict):
            return ""
        p = tok["p"]
        named = {k: v for k, v in p.items() if np.isfinite(v)}
        yes = [f"{k} (p {p_eq(v)})" for k, v in named.items() if v < ALPHA]
        no = [f"{k} (p {p_eq(v)})" for k, v in named.items() if v >= ALPHA]
        if yes and no:
            text = (f"The tests disagree on token news in {a['window']}: {', '.join(yes)} reject at 5%; "
                    f"{', '.join(no)} do not.")
        else:
            text = f"The tests agree on token news in {a['window']}: all {'reject' if yes else 'do not reject'} at 5%."
        robust = [f"{k} {v['car_pct']:+.2f}% (p {p_eq(v['p_value'])})" for k, v in tok["other_models"].items()]
        if robust:
            text += (f" Other abnormal returns give {', '.join(robust)}, against {tok['car_pct']:+.2f}% from the "
                     f"market model (mean beta {self.study.models['beta'].mean():.2f}).")
        pre = tok.get("pre_event")
        if isinstance(pre, dict):
            placebo, bmp = pre["p_value"] < ALPHA, pre["p_bmp"] < ALPHA
            text += (f" Before the news ({pre['window']}) the names moved {pre['car_pct']:+.2f}% (placebo p "
                     f"{p_eq(pre['p_value'])}, adjusted {p_text(pre['p_adjusted'])}; BMP p "
                     f"{p_eq(pre['p_bmp'])}): "
                     + ("a move before the news, on the placebo too: anticipation, leakage or drift." if placebo
                        else "BMP rejects but the placebo does not: no robust sign of anticipation or leakage."
                        if bmp else "no sign of anticipation or leakage."))
        return text

    @property
    def findings(self) -> list[str]:
        st = self.study
        bad = int(st.sessions["confounded"].sum())
        models = st.models
        lines = [self.verdict(), self.disagreement(),
                 f"{int((self.events['category'] == TOKENS).sum())} token events and "
                 f"{int(self.events['category'].isin(self.comparison).sum())} {' and '.join(self.comparison)} events "
                 f"on {len(st.sessions)} A-share sessions; {bad} sessions carry both kinds (confounded); "
                 f"{len(self.left_out)} items left out (disclosures without a day, events outside the prices or before "
                 "start, windows in which a name did not trade), each with its reason in left_out.csv.",
                 f"{len(self.subjects)} subjects against {self.benchmark}: {len(models)} market models, one per "
                 f"subject and event session, each on sessions {eventstudy.label(self.estimation_window)} around its "
                 f"day 0 ({models['estimation_end'].nunique()} distinct windows, ending "
                 f"{models['estimation_end'].min()} to {models['estimation_end'].max()}); a pair with fewer than "
                 f"{self.min_estimation} usable sessions is left out.",
                 f"Lead-lag of domestic token growth: {self.lead_lag['verdict']}.",
                 "Caveats: disclosure times are mostly unknown (assumed noon local, flagged); few sessions; names "
                 "and news overlap in time, which the placebo and the session bootstrap allow for but cannot remove."]
        return lines

    @property
    def source_line(self) -> str:
        return (self.prices[0].source_line() + f"; events: {data_file('tokens/disclosures.csv')} and "
                f"{data_file('events.csv')}")

    def summary(self) -> dict:
        answer = self.answer()
        found = answer.get(TOKENS)
        tok: dict = found if isinstance(found, dict) else {}
        p, adj = tok.get("p", {}), tok.get("p_adjusted", {})
        return {"notebook": "token_catalysts", "benchmark": self.benchmark, "subjects": self.subjects,
                "answer": answer, "verdict": self.verdict(), "disagreement": self.disagreement(),
                "lead_lag": self.lead_lag, "notices": self.notices,
                "headline": {"token CAR %": round(tok.get("car_pct", np.nan), 2),
                             "token p (BMP)": round(p.get("BMP", np.nan), 4),
                             "token placebo p": round(p.get(eventpanel.PLACEBO_CAR, np.nan), 3),
                             "token placebo p (adjusted)": round(adj.get(eventpanel.PLACEBO_CAR, np.nan), 3),
                             "token sessions": tok.get("sessions")},
                "sources": sources(*(p.provenance for p in self.prices))}

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"catalysts": self.catalysts(), "tests": self.tests_table(), "sessions": self.study.session_table(),
                "decomposition": self.study.decomposition, "left_out": self.left_out, "models": self.study.models,
                "placebo": self.study.placebo}


def subject_returns(basket: str, names_basket: str, benchmark: str, lo: pd.Timestamp, hi: pd.Timestamp,
                    source: PriceSource) -> tuple[pd.DataFrame, pd.Series, dict[str, str], Prices]:
    """Daily returns of each named company and each segment of the basket (equal-weight over the members trading
    that day), the benchmark's, display names, and the prices. A name without a return is left out, said; a day
    it does not trade leaves its estimation day out, and its event windows, flagged."""
    named, chain = load_basket(names_basket), load_basket(basket)
    bench = parse_symbols([benchmark])[0]
    prices = load_prices([*named["symbol"], *chain["symbol"], bench], lo, hi, source=source, strict=False)
    for row in prices.missing.itertuples():
        notice(f"{row.symbol}: {row.reason}")
    closes = prices.close()
    returns = closes.pct_change(fill_method=None).iloc[1:]
    if bench.code not in returns or returns[bench.code].isna().any():
        raise ParameterError(f"benchmark {benchmark} lacks closes between {lo.date()} and {hi.date()}")
    usable = [c for c in returns.columns if c != bench.code and returns[c].notna().any()]
    for c in sorted(set(returns.columns) - set(usable) - {bench.code}):
        notice(f"{c} has no return from {lo.date()} to {hi.date()}: left out of the subjects")
    out, labels = {}, {}
    for r in named.itertuples():
        if r.code in usable:
            out[r.code], labels[r.code] = returns[r.code], f"{r.name}"
    for segment, g in chain.groupby("segment", sort=False):
        members = [c for c in g["code"] if c in usable]
        if members:
            key = f"segment:{segment}"
            out[key], labels[key] = returns[members].mean(axis=1), f"{segment} ({len(members)})"
    if not out:
        raise ParameterError("no subject traded on every session of the window")
    return pd.DataFrame(out), returns[bench.code], labels, prices


def last_common_session(names_basket: str, days: pd.DatetimeIndex, source: PriceSource) -> pd.Timestamp:
    """The last session on which every named company has a close (the default end), said as a notice."""
    named = load_basket(names_basket)
    closes = load_prices(list(named["symbol"]), days[0], days[-1], source=source, strict=False).close()
    complete = closes.reindex(days).notna().all(axis=1)
    end = complete[complete].index[-1]
    notice(f"end defaults to {end.date()}, the last session on which all {len(named)} named companies have a close")
    return end


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 08's parameters, checked once."""

    names_basket: str = parsed(checks.text)
    basket: str = parsed(checks.text)
    benchmark: str = parsed(checks.text)
    start: pd.Timestamp = parsed(checks.as_date)
    end: pd.Timestamp | None = parsed(checks.date_or_none)
    estimation_window: tuple[int, int] = parsed(eventstudy.window_parameter)
    min_estimation_days: int = parsed(checks.positive_int)
    event_windows: list[tuple[int, int]] = parsed(eventstudy.windows_parameter)
    pre_event_window: tuple[int, int] = parsed(eventstudy.window_parameter)
    placebo_draws: int = parsed(checks.positive_int)
    bootstrap_draws: int = parsed(checks.positive_int)
    seed: int = parsed(checks.positive_int)
    p_adjust: str = parsed(checks.one_of(*eventpanel.ADJUSTMENTS))

    def design(self) -> eventstudy.Design:
        return eventstudy.Design(self.event_windows, self.estimation_window, min_estimation=self.min_estimation_days,
                                 pre_event=self.pre_event_window, placebo_draws=self.placebo_draws,
                                 bootstrap_draws=self.bootstrap_draws, seed=self.seed, p_adjust=self.p_adjust)
    comparison: list[str] = parsed(checks.text_list)
    token_series: str = parsed(checks.text)


def build(p: Params, source: PriceSource | None = None) -> CatalystReport:
    """The token-catalyst event study of the domestic chain, from the ledger, data/events.csv and prices."""
    source = source or default_source()
    with collect_notices() as notices:
        report = _study(p, source)
    report.notices = notices
    return report


def _study(p: Params, source: PriceSource) -> CatalystReport:
    cn_days = source.calendar("cn_index")
    end = p.end if p.end is not None else last_common_session(p.names_basket, cn_days, source)
    days = cn_days[(cn_days >= cn_days[0]) & (cn_days <= end)]
    ledger = load_ledger()
    tokens, left = token_events(ledger, days)
    others, left_others = comparison_events(p.comparison, days)
    events = pd.concat([tokens, others], ignore_index=True)
    early = events[events["session_date"] < p.start]
    left = pd.concat([left, pd.DataFrame({"event_date": early["date"].dt.date, "entity": early["entity"],
                                          "reason": f"before start {p.start.date()}"})], ignore_index=True)
    events = events[events["session_date"] >= p.start].sort_values("session_date")
    if not (events["category"] == TOKENS).any():
        raise ParameterError(f"no dated token disclosure has an A-share session from {p.start.date()} to "
                             f"{end.date()}; move start earlier")
    design = p.design()
    first = days.get_loc(events["session_date"].min()) + p.estimation_window[0]
    lo = days[max(0, first - 1)]
    returns, market, labels, prices = subject_returns(p.basket, p.names_basket, p.benchmark, lo, end, source)
    study = eventstudy.run(returns, market, events, design)
    left = pd.concat([x for x in (left, left_others) if len(x)] + [pd.DataFrame(
        [{"event_date": r.event_date, "entity": r.entity, "reason": r.reason} for r in study.skipped.itertuples()],
        columns=LEFT_OUT_COLUMNS)], ignore_index=True)
    return CatalystReport(labels, p.benchmark, events, left, study, p.event_windows, p.comparison,
                          lead_lag_note(ledger, p.token_series), [prices], estimation_window=p.estimation_window,
                          min_estimation=p.min_estimation_days, pre_event=p.pre_event_window)


def car_chart(r: CatalystReport) -> Figure:
    """Mean CAR per subject for token and comparison sessions in the longest window."""
    w = eventstudy.label(r.window)
    res = r.study.results[r.study.results["window"] == w]
    table = res.pivot_table(index="symbol", columns="category", values="car_pct", aggfunc="mean")
    table = table.rename(index=r.subjects)
    fig, ax = new_figure(figsize=(9, max(4.0, 0.4 * len(table) + 1.5)))
    grouped_barh(ax, table)
    return finish(fig, f"A-share compute names around token, capex and earnings news (CAR {w})", r.source_line,
                  xlabel="mean cumulative abnormal return over the events, % (market model on CSI 300)",
                  ylabel="subject", data=table)
