"""Confounded sessions and the category-dummy decomposition of an event study.

A session that carries events of several categories is confounded: its abnormal return cannot be put on one of
them. The decomposition regresses the basket's daily abnormal return on one dummy per category (1 on the days of
that category's event windows), with Newey-West standard errors, so that each day, and so each session, counts
once; `difference` tests one category's share against another's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from tokenwatch.errors import ParameterError

DECOMPOSITION_COLUMNS = ["category", "window", "car_pct", "t_stat", "p_value", "sessions", "clean_sessions", "days"]


def _label(window: tuple[int, int]) -> str:
    return f"[{window[0]:+d},{window[1]:+d}]"


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
            rows.append({"category": r.category, "window": _label(w), "car_pct": 100 * r.coef * length,
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
        raise ParameterError(f"no event window of {missing} in {_label(window)}: nothing to compare")
    length = window[1] - window[0] + 1
    fit = _dummy_fit(ar.loc[dummies.index], dummies, maxlags=length)
    contrast = np.zeros(len(dummies.columns))
    contrast[list(dummies.columns).index(first)], contrast[list(dummies.columns).index(second)] = 1.0, -1.0
    test = fit.t_test(contrast)
    return {"difference_pct": float(100 * length * np.asarray(test.effect).item()),
            "t_stat": float(np.asarray(test.tvalue).item()), "p_value": float(np.asarray(test.pvalue).item())}
