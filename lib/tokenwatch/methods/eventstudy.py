"""Event study: a market model per subject and event session, CARs, tests per category, robustness and checks.

Each subject and event session gets its own market model R_i = a + b R_m + e, estimated on the sessions
[-130, -11] around day 0 (a parameter) with every event session left out (`eventmodels.rolling`); a pair
whose window is short is skipped, with its reason. The rally replay keeps one model per subject estimated
before its first event (`estimation_window=None`). The variance of a CAR over L days follows Campbell, Lo and
MacKinlay (1997, ch. 4): s^2 (L + L^2/T + (sum R_m - L mean_m)^2 / Sxx). Market-adjusted and constant-mean
abnormal returns are computed beside it as robustness rows.

Beside the event windows, a pre-event window ([-10, -1]) tests anticipation, leakage or drift; every category
and window gets the parametric tests (eventtests), a placebo on random non-event sessions of the same subjects,
a bootstrap resampling event sessions, and every p-value an adjusted one (`eventpanel`).

A session that carries events of several categories is confounded: its abnormal return cannot be put on
one of them. Tests are given on every session, on clean sessions only, and from a decomposition that
regresses the basket's daily abnormal return on one dummy per category (1 on the days of that category's
event windows), with Newey-West standard errors, so that each day, and so each session, counts once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tokenwatch.errors import OutOfRangeError, ParameterError
from tokenwatch.methods import eventconfound, eventmodels, eventpanel
from tokenwatch.methods.eventconfound import decompose, difference, session_categories
from tokenwatch.methods.eventmodels import MARKET_MODEL

EVENT_COLUMNS = ["event_date", "session_date", "entity", "category", "headline", "symbol", "window", "car_pct",
                 "t_stat", "p_value"]
MODEL_COLUMNS = ["subject", "session", "estimation_start", "estimation_end", "alpha_bp", "beta", "resid_sd_pct",
                 "estimation_days"]
SKIPPED_COLUMNS = ["event_date", "entity", "window", "reason"]
MIN_ESTIMATION = 30
TEST_COLUMNS = eventpanel.TEST_COLUMNS
DECOMPOSITION_COLUMNS = eventconfound.DECOMPOSITION_COLUMNS
ALL, CLEAN, REGRESSION = eventpanel.ALL, eventpanel.CLEAN, "dummy regression"
DUMMY_TEST = "dummy regression (daily basket AR, Newey-West)"
EVENT, PRE_EVENT = eventpanel.EVENT, eventpanel.PRE_EVENT


@dataclass(frozen=True)
class Design:
    """How an event study is run: its windows, its model, its checks."""

    windows: list[tuple[int, int]]
    estimation_window: tuple[int, int] | None = (-130, -11)  # around each day 0; None: one model before the events
    estimation_length: int = 120  # with estimation_window None: sessions of the one model
    estimation_end: pd.Timestamp | None = None  # with estimation_window None: its last day (None: before the events)
    min_estimation: int = 100  # usable sessions a per-event model needs
    pre_event: tuple[int, int] | None = (-10, -1)
    placebo_draws: int = 2000
    bootstrap_draws: int = 2000
    seed: int = 0
    p_adjust: str = "fdr_bh"
    placebo_clear: bool = True  # a placebo window holds no event session (False where events are dense)

    def __post_init__(self) -> None:
        est, pre = self.estimation_window, self.pre_event
        if est is not None and (est[0] > est[1] or est[1] >= 0):
            raise ParameterError(f"estimation window {list(est)} must end before day 0, e.g. [-130, -11]")
        if pre is not None and pre[1] >= 0:
            raise ParameterError(f"pre-event window {list(pre)} must end before day 0, e.g. [-10, -1]")
        if est is not None and pre is not None and est[1] >= pre[0]:
            raise ParameterError(f"the estimation window {list(est)} must end before the pre-event window "
                                 f"{list(pre)} starts, so the model never sees the days it tests")
        if min(self.placebo_draws, self.bootstrap_draws) < 100:
            raise ParameterError("placebo and bootstrap draws: at least 100 each (1,000 or more for a p-value)")
        eventpanel.check_adjustment(self.p_adjust)

    @property
    def all_windows(self) -> list[tuple[int, int]]:
        return [*self.windows, *([self.pre_event] if self.pre_event else [])]

    def period(self, window: tuple[int, int]) -> str:
        return PRE_EVENT if window == self.pre_event and window not in self.windows else EVENT


def parse_windows(windows: list) -> list[tuple[int, int]]:
    """[[-1, 1], [0, 5]] -> [(-1, 1), (0, 5)], checked."""
    out = []
    for w in windows:
        try:
            lo, hi = (int(x) for x in w)
        except (TypeError, ValueError):
            raise ParameterError(f"event window {w!r} should be two whole numbers like [-1, 1]") from None
        if lo > hi:
            raise ParameterError(f"event window {w!r} starts after it ends")
        out.append((lo, hi))
    if not out:
        raise ParameterError("give at least one event window, e.g. [[-1, 1], [0, 5]]")
    return out


def windows_parameter(name: str, value: object) -> list[tuple[int, int]]:
    """A notebook's event-window parameter (a list of [start, end] pairs), checked: the Params parser."""
    from tokenwatch.params import as_list

    return parse_windows(as_list(name, value))


def window_parameter(name: str, value: object) -> tuple[int, int]:
    """One window parameter ([start, end]), checked."""
    from tokenwatch.params import as_list

    return parse_windows([as_list(name, value)])[0]


def label(window: tuple[int, int]) -> str:
    return f"[{window[0]:+d},{window[1]:+d}]"


def estimation_days(days: pd.DatetimeIndex, first_window_start: pd.Timestamp, length: int,
                    event_sessions: pd.DatetimeIndex, end: pd.Timestamp | None = None) -> pd.DatetimeIndex:
    """`length` sessions ending before the first event window (or on `end`), event sessions left out."""
    if end is not None and end >= first_window_start:
        raise ParameterError(f"the estimation window overlaps the events: it ends {end.date()}, but the first "
                             f"event window starts {first_window_start.date()}; end it earlier or leave it empty")
    stop = days.searchsorted(end, side="right") if end is not None else days.searchsorted(first_window_start)
    before = days[:stop]
    if len(before) < length:
        raise OutOfRangeError(f"an estimation window of {length} sessions needs data from before "
                              f"{before[0].date() if len(before) else first_window_start.date()}; there are only "
                              f"{len(before)} sessions before {first_window_start.date()}: lower estimation_days")
    chosen = before[-length:]
    kept = chosen.difference(event_sessions)
    if len(kept) < MIN_ESTIMATION:
        raise ParameterError(f"only {len(kept)} estimation sessions remain after removing event days; "
                             f"at least {MIN_ESTIMATION} are needed: raise estimation_days")
    return kept


@dataclass
class EventStudy:
    results: pd.DataFrame  # EVENT_COLUMNS
    by_category: pd.DataFrame
    models: pd.DataFrame  # MODEL_COLUMNS: per subject and event session (one row per subject for one model)
    estimation: pd.DatetimeIndex  # the decomposition's baseline days (the one model's estimation days)
    skipped: pd.DataFrame  # SKIPPED_COLUMNS: events, windows or subject-session pairs left out, with the reason
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)  # TEST_COLUMNS, per category, window and sample
    sessions: pd.DataFrame = field(default_factory=pd.DataFrame)  # per session: categories, confounded
    decomposition: pd.DataFrame = field(default_factory=pd.DataFrame)  # DECOMPOSITION_COLUMNS
    basket_ar: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))  # equal-weight daily AR
    days: pd.DatetimeIndex = field(default_factory=pd.DatetimeIndex)  # the sessions of the returns
    placebo: pd.DataFrame = field(default_factory=pd.DataFrame)  # eventpanel.PLACEBO_COLUMNS
    design: Design | None = None

    @property
    def adjustment(self) -> str:
        """The multiple-testing method, in words, with the size of the family."""
        n = int(self.tests["p_value"].notna().sum())
        return f"{eventpanel.ADJUSTMENTS[self.design.p_adjust if self.design else 'fdr_bh']} across all {n} tests"

    def session_table(self) -> pd.DataFrame:
        """`sessions` with the session as a date (for tables and CSV)."""
        return self.sessions.assign(session_date=pd.to_datetime(self.sessions["session_date"]).dt.date)

    def compare(self, window: tuple[int, int], first: str, second: str) -> dict[str, float]:
        """`difference` of two categories' decomposed CARs in one window, on this study's basket."""
        return difference(self.basket_ar, self.estimation, self.sessions, self.days, window, first, second)

    def test_p_values(self, sample: str = ALL, value: str = "p_value") -> pd.DataFrame:
        """One row per category and window, one column of p-values (or `p_adjusted`) per test of the market
        model (`tests`, side by side)."""
        part = self.tests[(self.tests["sample"] == sample) & (self.tests["model"] == MARKET_MODEL)]
        return part.pivot_table(index=["category", "window", "sessions", "observations"], columns="test",
                                values=value, sort=True).round(3).reset_index()

    def row(self, test: str, category: str, window: str, sample: str = ALL, model: str = MARKET_MODEL) -> pd.Series:
        """One row of `tests` (a KeyError naming it when absent)."""
        t = self.tests
        hit = t[(t["test"] == test) & (t["category"] == category) & (t["window"] == window) & (t["sample"] == sample)
                & (t["model"] == model)]
        if hit.empty:
            raise KeyError(f"no test {test!r} for {category} {window} ({sample}, {model})")
        return hit.iloc[0]

    def survivors(self, window: str, alpha: float = 0.05) -> pd.DataFrame:
        """Per category: the Kolari-Pynnonen p on all and on clean sessions and the decomposition's p in one
        window; a category survives when the decomposition rejects and, where it has clean sessions, so does
        Kolari-Pynnonen on them."""
        kp = self.tests[(self.tests["test"] == "Kolari-Pynnonen BMP") & (self.tests["window"] == window)]
        wide = kp.pivot_table(index="category", columns="sample", values="p_value")
        dec = self.decomposition[self.decomposition["window"] == window].set_index("category")
        out = dec[["car_pct", "p_value", "sessions", "clean_sessions"]].rename(columns={"p_value": "p_decomposition"})
        out["p_all"] = wide.get(ALL)
        out["p_clean"] = wide.get(CLEAN)
        clean_ok = out["p_clean"].isna() & (out["clean_sessions"] == 0) | (out["p_clean"] < alpha)
        out["survives"] = (out["p_decomposition"] < alpha) & clean_ok
        return out.reset_index()

    def _repr_html_(self) -> str:
        events = self.results[["event_date", "entity"]].drop_duplicates()
        head = (f"<p>Market-model event study: {len(events)} event(s), {len(self.models)} models "
                f"(p-values adjusted by {self.adjustment})</p>")
        return head + self.by_category.style.format(precision=3, escape="html").hide(axis="index").to_html()


def run(returns: pd.DataFrame, market: pd.Series, events: pd.DataFrame, design: Design,
        all_event_sessions: pd.DatetimeIndex | None = None) -> EventStudy:
    """The event study of every subject in `returns` (daily simple returns) around every event.

    `events` needs session_date (its day 0), date, entity, category and headline. Event windows that run
    outside the data, and subject-session pairs without a model, are listed in `skipped`, never filled.
    """
    days = returns.index
    events = events.sort_values("session_date", kind="stable")
    sessions = pd.DatetimeIndex(all_event_sessions if all_event_sessions is not None else events["session_date"])
    windows = design.all_windows
    if design.estimation_window is None:
        first = days.searchsorted(events["session_date"].min()) + min(w[0] for w in windows)
        est = estimation_days(days, days[max(first, 0)], design.estimation_length, sessions, design.estimation_end)
        models = eventmodels.fixed(returns, market, est, MIN_ESTIMATION)
    else:
        models = eventmodels.rolling(returns, market, sessions, design.estimation_window, design.min_estimation)
    daily = models.daily_ar()
    basket = daily.mean(axis=1).dropna()  # a day no subject has a model for is no baseline day
    baseline = est if design.estimation_window is None else pd.DatetimeIndex(basket.index)
    cars = {(w, kind): models.window_car(w, kind) for w in windows for kind in eventmodels.KINDS}
    results, skipped, obs, model_rows = _observations(models, cars, events, design)
    per_session = session_categories(events)
    clean = set(per_session.loc[~per_session["confounded"], "session_date"])
    unique = results.drop_duplicates(["category", "window", "session_date", "symbol"])
    r_symbols = eventpanel.mean_correlation(daily.loc[baseline])
    panel = eventpanel.Panel(models, cars, obs, r_symbols, design.period)
    rng = np.random.default_rng(design.seed)
    tests = [panel.tests(category_means(unique)).assign(sample=ALL)]
    is_clean = obs["session"].isin(clean) if len(obs) else pd.Series(dtype=bool)
    if is_clean.any():
        clean_results = unique[pd.to_datetime(unique["session_date"]).isin(clean)]
        tests.append(eventpanel.Panel(models, cars, obs[is_clean], r_symbols, design.period)
                     .tests(category_means(clean_results)).assign(sample=CLEAN))
    event_days = days.isin(sessions)
    placebo_rows, placebo = panel.placebo(event_days, design.placebo_draws, rng, design.placebo_clear)
    tests += [placebo_rows.assign(sample=ALL), panel.bootstrap(design.bootstrap_draws, rng).assign(sample=ALL)]
    decomposition = decompose(basket, baseline, per_session, days, design.windows)
    tests.append(pd.DataFrame({"test": DUMMY_TEST, "model": MARKET_MODEL, "category": decomposition["category"],
                               "window": decomposition["window"], "period": EVENT,
                               "car_pct": decomposition["car_pct"], "statistic": decomposition["t_stat"],
                               "p_value": decomposition["p_value"], "sessions": decomposition["sessions"],
                               "observations": decomposition["days"], "sample": REGRESSION}))
    table = pd.concat([t for t in tests if len(t)], ignore_index=True)
    table["p_adjusted"] = eventpanel.adjust(table["p_value"].to_numpy(float), design.p_adjust)
    return EventStudy(results, category_means(unique), pd.DataFrame(model_rows, columns=MODEL_COLUMNS), baseline,
                      pd.DataFrame(skipped, columns=SKIPPED_COLUMNS), table[TEST_COLUMNS], per_session,
                      decomposition, basket, days, placebo, design)


def _observations(models: eventmodels.Models, cars: dict, events: pd.DataFrame,
                  design: Design) -> tuple[pd.DataFrame, list[dict], pd.DataFrame, list[dict]]:
    """Per event, window and subject: the result rows, what was skipped and why, one observation per category,
    session, window and subject (two events of one category on one session are one observation), and one model
    row per subject and event session (one per subject for a single model)."""
    days, subjects = models.days, models.subjects
    rows, skipped, obs, model_rows = [], [], [], {}
    seen: set[tuple] = set()
    for ev in events.itertuples():
        t = days.get_loc(ev.session_date)
        for s, sym in enumerate(subjects):
            if not models.valid[t, s]:
                skipped.append({"event_date": ev.date.date(), "entity": ev.entity, "window": "all",
                                "reason": f"{sym}: {models.reason[t, s]}: no model, left out"})
                continue
            key = (sym, None if design.estimation_window is None else ev.session_date)
            if key not in model_rows:
                model_rows[key] = _model_row(models, t, s, key[1])
        for w in design.all_windows:
            lo, hi = t + w[0], t + w[1]
            if lo < 0 or hi >= len(days):
                skipped.append({"event_date": ev.date.date(), "entity": ev.entity, "window": label(w),
                                "reason": f"window runs past the prices ({days[0].date()}..{days[-1].date()})"})
                continue
            car, sd = cars[(w, MARKET_MODEL)]
            for s, sym in enumerate(subjects):
                if not models.valid[t, s]:
                    continue
                if np.isnan(car[t, s]):
                    gap = days[lo + int(np.flatnonzero(np.isnan(models.y[lo:hi + 1, s]))[0])]
                    skipped.append({"event_date": ev.date.date(), "entity": ev.entity, "window": label(w),
                                    "reason": f"{sym} has no return on {gap.date()} (not traded): left out"})
                    continue
                t_stat = car[t, s] / sd[t, s]
                rows.append({"event_date": ev.date.date(), "session_date": ev.session_date.date(),
                             "entity": ev.entity, "category": ev.category, "headline": ev.headline, "symbol": sym,
                             "window": label(w), "car_pct": 100 * car[t, s], "t_stat": t_stat,
                             "p_value": float(2 * stats.t.sf(abs(t_stat), models.n[t, s] - 2))})
                if (ev.category, w, t, s) not in seen:
                    seen.add((ev.category, w, t, s))
                    obs.append({"category": ev.category, "window": label(w), "bounds": w, "session": ev.session_date,
                                "symbol": sym, "t": t, "s": s})
    return (pd.DataFrame(rows, columns=EVENT_COLUMNS), skipped, pd.DataFrame(obs), list(model_rows.values()))


def _model_row(models: eventmodels.Models, t: int, s: int, session: pd.Timestamp | None) -> dict:
    d = models.days
    return {"subject": models.subjects[s], "session": session.date() if session is not None else None,
            "estimation_start": d[max(models.start[t], 0)].date(), "estimation_end": d[models.stop[t] - 1].date(),
            "alpha_bp": 1e4 * models.alpha[t, s], "beta": models.beta[t, s],
            "resid_sd_pct": 100 * np.sqrt(models.sigma2[t, s]), "estimation_days": int(models.n[t, s])}

def by_event(results: pd.DataFrame) -> pd.DataFrame:
    """Mean CAR across symbols for each event (rows) and window (columns), in percent."""
    return results.pivot_table(index=["session_date", "category", "entity"], columns="window", values="car_pct",
                               aggfunc="mean", sort=True)


def category_means(results: pd.DataFrame) -> pd.DataFrame:
    """Mean CAR by category and window over events and symbols, with a cross-sectional t-test.

    Symbols share each event's market shock, so these t-statistics overstate the evidence; the count
    of distinct events is given beside them.
    """
    rows = []
    for (cat, win), part in results.groupby(["category", "window"], sort=True):
        cars = part["car_pct"].to_numpy()
        n = len(cars)
        sd = cars.std(ddof=1) if n > 1 else np.nan
        t = cars.mean() / (sd / np.sqrt(n)) if n > 1 and sd > 0 else np.nan
        rows.append({"category": cat, "window": win, "events": part["session_date"].nunique(), "observations": n,
                     "mean_car_pct": cars.mean(), "share_positive": (cars > 0).mean(), "t_stat": t,
                     "p_value": 2 * stats.t.sf(abs(t), n - 1) if np.isfinite(t) else np.nan})
    return pd.DataFrame(rows)
