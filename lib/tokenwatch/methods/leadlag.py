"""Lead-lag of A-share returns on overseas returns on the clock: correlations, a Granger F-test, rolling beta."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from tokenwatch.errors import ParameterError
from tokenwatch.methods.clock import lagged_us

LEAD_LAG_COLUMNS = ["lag_days", "correlation", "granger_p_value"]


def granger_p(cn: pd.Series, us_returns: pd.Series, lags: int) -> float:
    """F-test p-value that US returns at lags 1..`lags` (clock-aligned) help predict A-share returns beyond
    the A-share series' own `lags` lags (the ssr F-test of statsmodels' grangercausalitytests)."""
    frame = pd.DataFrame({"y": cn})
    for k in range(1, lags + 1):
        frame[f"y_{k}"] = cn.shift(k)
        frame[f"x_{k}"] = lagged_us(us_returns, cn.index, k)
    frame = frame.dropna()
    if len(frame) < 3 * lags + 10:
        raise ParameterError(f"{len(frame)} sessions are too few for a Granger test with {lags} lags")
    fit = sm.OLS(frame["y"], sm.add_constant(frame.drop(columns="y"))).fit()
    test = fit.f_test(" = 0, ".join(f"x_{k}" for k in range(1, lags + 1)) + " = 0")
    return float(test.pvalue)


def lead_lag(cn: pd.Series, us_returns: pd.Series, lags: range = range(-3, 6)) -> pd.DataFrame:
    """Cross-correlation of A-share basket returns with clock-aligned US returns, and Granger p-values
    for lags 1 and up (a test on lag 0 or below would use the future)."""
    rows = []
    for k in lags:
        pair = pd.concat([cn, lagged_us(us_returns, cn.index, k)], axis=1).dropna()
        rows.append({"lag_days": k, "correlation": float(pair.iloc[:, 0].corr(pair.iloc[:, 1])),
                     "granger_p_value": granger_p(cn, us_returns, k) if k >= 1 else np.nan})
    return pd.DataFrame(rows, columns=LEAD_LAG_COLUMNS)


def rolling_beta(cn: pd.Series, overseas: pd.Series, window: int) -> pd.DataFrame:
    """Rolling correlation and beta of A-share returns on the overseas returns they could see (lag 1)."""
    frame = pd.concat({"cn": cn, "us": overseas}, axis=1).dropna()
    cov = frame["cn"].rolling(window).cov(frame["us"])
    return pd.DataFrame({"correlation": frame["cn"].rolling(window).corr(frame["us"]),
                         "beta": cov / frame["us"].rolling(window).var()})


def lag_that_matters(table: pd.DataFrame, alpha: float = 0.05) -> str:
    """A sentence naming the lag with the strongest correlation and what the Granger tests say."""
    best = table.loc[table["correlation"].abs().idxmax()]
    sig = table[(table["granger_p_value"] < alpha)]
    text = (f"The strongest correlation is at lag {int(best['lag_days'])} "
            f"({best['correlation']:+.2f}; lag 1 is the US session the night before).")
    if len(sig):
        first = sig.iloc[0]
        text += (f" US returns Granger-cause the A-share basket from {int(first['lag_days'])} lag(s) "
                 f"(p = {first['granger_p_value']:.3g}).")
    else:
        text += " No Granger test up to the lags shown rejects at 5%."
    return text
