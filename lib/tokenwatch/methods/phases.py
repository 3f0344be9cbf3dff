"""Rally phases: boundaries on a market's sessions, phase returns, drawdowns and leaders."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tokenwatch.errors import ParameterError
from tokenwatch.sessions import last_on_or_before, period_return

PHASES = ("pre-rally", "phase 1", "phase 2")


PHASE_COLUMNS = ["symbol", "phase", "start", "end", "return_pct", "benchmark_pct", "excess_pct", "max_drawdown_pct"]


@dataclass(frozen=True)
class Boundaries:
    """The four closes that delimit the three phases (dates of sessions in one market)."""

    closes: tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp, pd.Timestamp]

    def spans(self) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
        c = self.closes
        return [(PHASES[i], c[i], c[i + 1]) for i in range(3)]

    def as_dict(self) -> dict:
        return {name: {"from_close": a.date(), "to_close": b.date()} for name, a, b in self.spans()}


def phase_boundaries(days: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp, phase1_start: pd.Timestamp,
                     phase2_start: pd.Timestamp) -> Boundaries:
    """US closes that start and end each phase; each phase must hold at least one session."""
    if not start < phase1_start <= phase2_start <= end:
        raise ParameterError(f"dates must run start < phase1_start <= phase2_start <= end; got {start.date()}, "
                             f"{phase1_start.date()}, {phase2_start.date()}, {end.date()}")
    closes = (last_on_or_before(days, start), last_on_or_before(days, phase1_start - pd.Timedelta(days=1)),
              last_on_or_before(days, phase2_start - pd.Timedelta(days=1)), last_on_or_before(days, end))
    for (name, a, b) in Boundaries(closes).spans():
        if b <= a:
            raise ParameterError(f"{name} holds no session ({a.date()} to {b.date()}); move the phase dates apart")
    return Boundaries(closes)


def mirror_boundaries(us: Boundaries, us_days: pd.DatetimeIndex, cn_days: pd.DatetimeIndex) -> Boundaries:
    """A-share closes matching US boundaries: the last A-share close before the next US session."""
    out = []
    for close in us.closes:
        pos = us_days.searchsorted(close, side="right")
        nxt = us_days[pos] if pos < len(us_days) else close + pd.Timedelta(days=1)
        out.append(last_on_or_before(cn_days, nxt))
    return Boundaries(tuple(out))


def max_drawdown(closes: pd.Series) -> float:
    """Largest fall from a running peak, in percent (<= 0)."""
    return float(100 * (closes / closes.cummax() - 1).min())


def phase_returns(panel: pd.DataFrame, benchmark: str, bounds: Boundaries) -> pd.DataFrame:
    """Each symbol's return, the benchmark's, the excess and max drawdown per phase and for the whole window."""
    spans = [*bounds.spans(), ("whole window", bounds.closes[0], bounds.closes[-1])]
    rows = []
    for sym in [c for c in panel.columns if c != benchmark]:
        for name, a, b in spans:
            px, bench = panel[sym].loc[a:b], panel[benchmark].loc[a:b]
            if px.isna().any() or bench.isna().any():
                gap = px.index[px.isna() | bench.isna()][0]
                raise ParameterError(f"{sym} or {benchmark} has no close on {gap.date()} inside {name}")
            ret, bret = period_return(px, a, b), period_return(bench, a, b)
            rows.append({"symbol": sym, "phase": name, "start": a.date(), "end": b.date(), "return_pct": ret,
                         "benchmark_pct": bret, "excess_pct": ret - bret, "max_drawdown_pct": max_drawdown(px)})
    return pd.DataFrame(rows, columns=PHASE_COLUMNS)


def leaders(table: pd.DataFrame, top: int = 3) -> dict[str, list[str]]:
    """The `top` symbols by excess return in each phase."""
    part = table[table["phase"].isin(PHASES)]
    return {phase: g.nlargest(top, "excess_pct")["symbol"].tolist() for phase, g in part.groupby("phase", sort=False)}


def report_break_date(bounds: Boundaries, days: pd.DatetimeIndex) -> pd.Timestamp:
    """The first session of phase 2 in `days`."""
    return days[days.searchsorted(bounds.closes[2], side="right")]
