"""Market-model event study: abnormal returns, CARs with their t-statistics, averages by category.

The market model R_i = a + b R_m + e is fitted by OLS (statsmodels) on an estimation window that ends
before the first event window and leaves out every event session. The variance of a CAR over L days
follows Campbell, Lo and MacKinlay (1997, ch. 4): s^2 (L + L^2/T + (sum R_m - L mean_m)^2 / Sxx), which
adds the estimation error of a and b to the L days of residual variance.

A session that carries events of several categories is confounded: its abnormal return cannot be put on
one of them. Tests are given on every session, on clean sessions only, and from a decomposition that
regresses the basket's daily abnormal return on one dummy per category (1 on the days of that category's
event windows), with Newey-West standard errors, so that each day, and so each session, counts once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from tokenwatch.errors import OutOfRangeError, ParameterError
from tokenwatch.methods import eventtests as E

EVENT_COLUMNS = ["event_date", "session_date", "entity", "category", "headline", "symbol", "window", "car_pct",
                 "t_stat", "p_value"]
MIN_ESTIMATION = 30
TEST_COLUMNS = ["test", "category", "window", "statistic", "p_value", "sessions", "observations", "sample"]
DECOMPOSITION_COLUMNS = ["category", "window", "car_pct", "t_stat", "p_value", "sessions", "clean_sessions", "days"]
ALL, CLEAN, REGRESSION = "all sessions", "clean sessions", "dummy regression"
DUMMY_TEST = "dummy regression (daily basket AR, Newey-West)"


@dataclass(frozen=True)
class MarketModel:
    alpha: float
    beta: float
    sigma2: float  # residual variance (ddof 2)
    n: int
    market_mean: float
    market_sxx: float

    def abnormal(self, stock: pd.Series, market: pd.Series) -> pd.Series:
        return stock - (self.alpha + self.beta * market)

    def car_sd(self, market: pd.Series) -> float:
        """The standard error of a CAR over these market days (with the model's estimation error)."""
        length = len(market)
        return float(np.sqrt(self.sigma2 * (length + length**2 / self.n
                                            + (market.sum() - length * self.market_mean) ** 2 / self.market_sxx)))

    def car(self, stock: pd.Series, market: pd.Series) -> tuple[float, float, float]:
        """CAR over the days given, its t-statistic and two-sided p-value (t with n-2 df)."""
        car = float(self.abnormal(stock, market).sum())
        t = car / self.car_sd(market)
        return car, t, float(2 * stats.t.sf(abs(t), self.n - 2))


def fit_market_model(stock: pd.Series, market: pd.Series) -> MarketModel:
    """OLS of the stock's returns on the market's over the same days (no missing values allowed)."""
    frame = pd.concat({"y": stock, "m": market}, axis=1)
    if frame.isna().any().any():
        gaps = frame.index[frame.isna().any(axis=1)]
        raise ParameterError(f"{stock.name}: returns missing on {len(gaps)} estimation day(s), first "
                             f"{gaps[0].date()}; pick an estimation window where the symbol traded")
    fit = sm.OLS(frame["y"], sm.add_constant(frame["m"])).fit()
    m = frame["m"].to_numpy()
    return MarketModel(alpha=float(fit.params["const"]), beta=float(fit.params["m"]),
                       sigma2=float(fit.ssr / (len(m) - 2)), n=len(m), market_mean=float(m.mean()),
                       market_sxx=float(((m - m.mean()) ** 2).sum()))


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
    models: pd.DataFrame  # per symbol: alpha, beta, sigma, n
    estimation: pd.DatetimeIndex
    skipped: pd.DataFrame  # events (or event windows) left out, with the reason
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)  # TEST_COLUMNS, per category, window and sample
    sessions: pd.DataFrame = field(default_factory=pd.DataFrame)  # per session: categories, confounded
    decomposition: pd.DataFrame = field(default_factory=pd.DataFrame)  # DECOMPOSITION_COLUMNS
    basket_ar: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))  # equal-weight daily AR
    days: pd.DatetimeIndex = field(default_factory=pd.DatetimeIndex)  # the sessions of the returns

    def session_table(self) -> pd.DataFrame:
        """`sessions` with the session as a date (for tables and CSV)."""
        return self.sessions.assign(session_date=pd.to_datetime(self.sessions["session_date"]).dt.date)

    def compare(self, window: tuple[int, int], first: str, second: str) -> dict[str, float]:
        """`difference` of two categories' decomposed CARs in one window, on this study's basket."""
        return difference(self.basket_ar, self.estimation, self.sessions, self.days, window, first, second)

    def test_p_values(self, sample: str = ALL) -> pd.DataFrame:
        """One row per category and window, one column of p-values per test (`tests`, side by side)."""
        part = self.tests[self.tests["sample"] == sample]
        return part.pivot_table(index=["category", "window", "sessions", "observations"], columns="test",
                                values="p_value", sort=True).round(3).reset_index()

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
        head = (f"<p>Market-model event study: {len(events)} event(s), estimation window "
                f"{self.estimation[0].date()} to {self.estimation[-1].date()} "
                f"({len(self.estimation)} sessions)</p>")
        return head + self.by_category.style.format(precision=3, escape="html").hide(axis="index").to_html()


def run(returns: pd.DataFrame, market: pd.Series, events: pd.DataFrame, windows: list[tuple[int, int]],
        estimation_length: int, estimation_end: pd.Timestamp | None = None,
        all_event_sessions: pd.DatetimeIndex | None = None) -> EventStudy:
    """The event study of every symbol in `returns` (daily simple returns) around every event.

    `events` needs session_date (its day 0), date, entity, category and headline. Event windows that
    run outside the data are listed in `skipped`, never filled.
    """
    days = returns.index
    events = events.sort_values("session_date")
    first = events["session_date"].min()
    first_start = days[max(days.searchsorted(first) + min(w[0] for w in windows), 0)]
    sessions = pd.DatetimeIndex(all_event_sessions if all_event_sessions is not None else events["session_date"])
    est = estimation_days(days, first_start, estimation_length, sessions, estimation_end)
    models = {s: fit_market_model(returns.loc[est, s], market.loc[est]) for s in returns.columns}
    rows, skipped, obs = [], [], []
    for ev in events.itertuples():
        pos = days.get_loc(ev.session_date)
        for w in windows:
            lo, hi = pos + w[0], pos + w[1]
            if lo < 0 or hi >= len(days):
                skipped.append({"event_date": ev.date.date(), "entity": ev.entity, "window": label(w),
                                "reason": f"window runs past the prices ({days[0].date()}..{days[-1].date()})"})
                continue
            span = days[lo:hi + 1]
            for sym, model in models.items():
                if returns.loc[span, sym].isna().any():
                    gap = span[returns.loc[span, sym].isna().to_numpy()][0]
                    skipped.append({"event_date": ev.date.date(), "entity": ev.entity, "window": label(w),
                                    "reason": f"{sym} has no return on {gap.date()} (not traded): left out"})
                    continue
                car, t, p = model.car(returns.loc[span, sym], market.loc[span])
                obs.append({"category": ev.category, "window": label(w), "session": ev.session_date, "symbol": sym,
                            "car": car, "sd": model.car_sd(market.loc[span]),
                            "ar": model.abnormal(returns.loc[span, sym], market.loc[span]).to_numpy()})
                rows.append({"event_date": ev.date.date(), "session_date": ev.session_date.date(),
                             "entity": ev.entity, "category": ev.category, "headline": ev.headline, "symbol": sym,
                             "window": label(w), "car_pct": 100 * car, "t_stat": t, "p_value": p})
    results = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    model_table = pd.DataFrame([{"symbol": s, "alpha_bp": 1e4 * m.alpha, "beta": m.beta,
                                 "resid_sd_pct": 100 * np.sqrt(m.sigma2), "estimation_days": m.n}
                                for s, m in models.items()])
    residuals = pd.DataFrame({s: m.abnormal(returns.loc[est, s], market.loc[est]) for s, m in models.items()})
    # two events of one category on one session are one observation per symbol, not two
    observations = pd.DataFrame(obs)
    if len(observations):
        observations = observations.drop_duplicates(["category", "window", "session", "symbol"])
    per_session = session_categories(events)
    clean = set(per_session.loc[~per_session["confounded"], "session_date"])
    unique = results.drop_duplicates(["category", "window", "session_date", "symbol"])
    clean_results = unique[pd.to_datetime(unique["session_date"]).isin(clean)]
    tests = [category_tests(observations, residuals, category_means(unique)).assign(sample=ALL)]
    if len(observations) and observations["session"].isin(clean).any():
        tests.append(category_tests(observations[observations["session"].isin(clean)], residuals,
                                    category_means(clean_results)).assign(sample=CLEAN))
    portfolio = pd.DataFrame({s: m.abnormal(returns[s], market) for s, m in models.items()}).mean(axis=1)
    decomposition = decompose(portfolio, est, per_session, days, windows)
    tests.append(pd.DataFrame({"test": DUMMY_TEST, "category": decomposition["category"],
                               "window": decomposition["window"], "statistic": decomposition["t_stat"],
                               "p_value": decomposition["p_value"], "sessions": decomposition["sessions"],
                               "observations": decomposition["days"], "sample": REGRESSION}))
    return EventStudy(results, category_means(unique), model_table, est,
                      pd.DataFrame(skipped, columns=["event_date", "entity", "window", "reason"]),
                      pd.concat([t for t in tests if len(t)], ignore_index=True)[TEST_COLUMNS], per_session,
                      decomposition, portfolio, days)


def session_categories(events: pd.DataFrame) -> pd.DataFrame:
    """Per event session: its categories (sorted, joined by '+') and whether it is confounded (more than one)."""
    if events.empty:
        return pd.DataFrame(columns=["session_date", "categories", "events", "confounded"])
    grouped = events.groupby("session_date")
    cats = grouped["category"].agg(lambda c: "+".join(sorted(set(c))))
    return pd.DataFrame({"session_date": cats.index, "categories": cats.to_numpy(),
                         "events": grouped.size().to_numpy(),
                         "confounded": cats.str.contains("+", regex=False).to_numpy()}).reset_index(drop=True)


def dummy_regression(ar: pd.Series, dummies: pd.DataFrame, maxlags: int) -> pd.DataFrame:
    """OLS of a daily abnormal return on category dummies, no constant (abnormal returns are zero on
    average outside the windows by construction), with Newey-West (HAC) standard errors."""
    fit = _dummy_fit(ar, dummies, maxlags)
    return pd.DataFrame({"category": dummies.columns, "coef": fit.params, "t_stat": fit.tvalues,
                         "p_value": fit.pvalues})


def _dummy_fit(ar: pd.Series, dummies: pd.DataFrame, maxlags: int):  # noqa: ANN202 - a statsmodels result
    return sm.OLS(ar.to_numpy(), dummies.to_numpy(dtype=float)).fit(cov_type="HAC", cov_kwds={"maxlags": maxlags})


def window_dummies(ar: pd.Series, estimation: pd.DatetimeIndex, sessions: pd.DataFrame, days: pd.DatetimeIndex,
                   window: tuple[int, int]) -> pd.DataFrame:
    """One 0/1 column per category, over the estimation days and every day of the category's event windows
    (`sessions` from `session_categories`); windows that run past the prices are left out."""
    per_cat = sessions.assign(category=sessions["categories"].str.split("+")).explode("category")
    marks: dict[str, set[pd.Timestamp]] = {}
    for r in per_cat.itertuples():
        pos = days.get_loc(r.session_date)
        if pos + window[0] < 0 or pos + window[1] >= len(days):
            continue
        marks.setdefault(str(r.category), set()).update(days[pos + window[0]:pos + window[1] + 1])
    if not marks:
        return pd.DataFrame()
    sample = estimation.union(pd.DatetimeIndex(sorted(set().union(*marks.values())))).intersection(ar.index)
    return pd.DataFrame({c: sample.isin(list(d)) for c, d in sorted(marks.items())}, index=sample)


def decompose(ar: pd.Series, estimation: pd.DatetimeIndex, sessions: pd.DataFrame, days: pd.DatetimeIndex,
              windows: list[tuple[int, int]]) -> pd.DataFrame:
    """DECOMPOSITION_COLUMNS per category and window: the category's share of the basket's abnormal return,
    as a CAR over the window (coefficient x window length), from `dummy_regression` on the estimation days
    and every event window's days."""
    rows = []
    if sessions.empty:
        return pd.DataFrame(columns=DECOMPOSITION_COLUMNS)
    per_cat = sessions.assign(category=sessions["categories"].str.split("+")).explode("category")
    for w in windows:
        dummies = window_dummies(ar, estimation, sessions, days, w)
        if dummies.empty:
            continue
        length = w[1] - w[0] + 1
        fit = dummy_regression(ar.loc[dummies.index], dummies, maxlags=length)
        for r in fit.itertuples():
            cat_sessions = per_cat[per_cat["category"] == r.category]
            rows.append({"category": r.category, "window": label(w), "car_pct": 100 * r.coef * length,
                         "t_stat": r.t_stat, "p_value": r.p_value, "sessions": len(cat_sessions),
                         "clean_sessions": int((~cat_sessions["confounded"]).sum()),
                         "days": int(dummies[r.category].sum())})
    return pd.DataFrame(rows, columns=DECOMPOSITION_COLUMNS)


def difference(ar: pd.Series, estimation: pd.DatetimeIndex, sessions: pd.DataFrame, days: pd.DatetimeIndex,
               window: tuple[int, int], first: str, second: str) -> dict[str, float]:
    """The decomposition's CAR of `first` minus that of `second` in one window, with its Wald t and p
    (Newey-West): does one kind of news move prices more than the other?"""
    dummies = window_dummies(ar, estimation, sessions, days, window)
    missing = [c for c in (first, second) if c not in dummies.columns]
    if missing:
        raise ParameterError(f"no event window of {missing} in {label(window)}: nothing to compare")
    length = window[1] - window[0] + 1
    fit = _dummy_fit(ar.loc[dummies.index], dummies, maxlags=length)
    contrast = np.zeros(len(dummies.columns))
    contrast[list(dummies.columns).index(first)], contrast[list(dummies.columns).index(second)] = 1.0, -1.0
    test = fit.t_test(contrast)
    return {"difference_pct": float(100 * length * np.asarray(test.effect).item()),
            "t_stat": float(np.asarray(test.tvalue).item()), "p_value": float(np.asarray(test.pvalue).item())}


def category_tests(obs: pd.DataFrame, residuals: pd.DataFrame, means: pd.DataFrame) -> pd.DataFrame:
    """Every test (eventtests) per category and window, beside the cross-sectional t-test.

    Kolari-Pynnonen: symbols on one session share its shock, with the symbols' mean residual correlation r;
    observations on different sessions are taken as uncorrelated, so the group's mean correlation is r times
    the share of its pairs that fall on one session.
    """
    if obs.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    r_symbols = E.mean_pairwise_correlation(residuals.to_numpy())
    rows = []
    for (cat, win), g in obs.groupby(["category", "window"], sort=True):
        n = len(g)
        same = int((g.groupby("session").size().map(lambda k: k * (k - 1) / 2)).sum())
        r = r_symbols * same / (n * (n - 1) / 2) if n > 1 else 0.0
        est = residuals[g["symbol"]].to_numpy().T
        car, sd = g["car"].to_numpy(), g["sd"].to_numpy()
        base = {"category": cat, "window": win, "sessions": g["session"].nunique(), "observations": n}
        t_row = means[(means["category"] == cat) & (means["window"] == win)].iloc[0]
        results = {"t (cross-section)": (t_row["t_stat"], t_row["p_value"]), "BMP": E.bmp(car, sd),
                   "Kolari-Pynnonen BMP": E.kolari_pynnonen(car, sd, r),
                   "Corrado rank": E.corrado_rank(est, np.vstack(g["ar"].to_numpy())),
                   "generalized sign": E.generalized_sign(car, est)}
        for test, (stat, p) in results.items():
            rows.append({"test": test, "statistic": stat, "p_value": p, **base})
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


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
