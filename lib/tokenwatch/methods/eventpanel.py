"""Every test of an event study's categories and windows, on its panel of observations (category, window,
session, subject), with robustness rows, a placebo, a bootstrap over event sessions and adjusted p-values.

- Parametric (eventtests): the cross-sectional t-test, BMP, Kolari-Pynnonen, Corrado rank, generalized sign on the
  market model; the t-test and BMP again on market-adjusted and constant-mean abnormal returns.
- Placebo: the mean CAR and BMP of random non-event sessions of the same subjects, each draw as many distinct
  sessions as the category has. A candidate day 0 carries no event, its window starts after its own estimation
  window and (with `clear`, the default) holds no event session; its CAR uses the model of that day 0, as a real
  event's would. Where events are dense (the rally), `clear=False` lets windows overlap events, said in the note.
- Cluster bootstrap: the mean CAR with event sessions resampled (every name of a session together).
- `adjust`: Holm or Benjamini-Hochberg across every p-value of the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tokenwatch.errors import ParameterError
from tokenwatch.methods import eventtests as E
from tokenwatch.methods.eventmodels import CONSTANT_MEAN, MARKET_ADJUSTED, MARKET_MODEL, Models

TEST_COLUMNS = ["test", "model", "category", "window", "period", "car_pct", "statistic", "p_value", "p_adjusted",
                "sessions", "observations", "sample"]
PLACEBO_COLUMNS = ["category", "window", "period", "sessions", "observations", "car_pct", "placebo_mean_car_pct",
                   "placebo_low_car_pct", "placebo_high_car_pct", "candidates", "draws", "p_value", "note"]
ALL, CLEAN = "all sessions", "clean sessions"
EVENT, PRE_EVENT = "event window", "pre-event"
T_TEST, PLACEBO_CAR, PLACEBO_BMP = "t (cross-section)", "placebo: mean CAR", "placebo: BMP"
BOOTSTRAP = "cluster bootstrap (event sessions)"
ADJUSTMENTS = E.ADJUSTMENTS


def p_text(value: float) -> str:
    """A p-value for a sentence: three decimals, or "< 0.001" below that (never scientific notation)."""
    return f"{value:.3f}" if value >= 0.001 or not np.isfinite(value) else "< 0.001"


def p_eq(value: float) -> str:
    """'p = 0.057' or 'p < 0.001' without the 'p': "= 0.057", "< 0.001"."""
    text = p_text(value)
    return text if text.startswith("<") else f"= {text}"


def check_adjustment(method: str) -> None:
    if method not in ADJUSTMENTS:
        raise ParameterError(f"p_adjust {method!r}: one of {', '.join(f'{k} ({v})' for k, v in ADJUSTMENTS.items())}")


def adjust(p_values: np.ndarray, method: str) -> np.ndarray:
    check_adjustment(method)
    return E.adjust(p_values, method)


def mean_correlation(daily_ar: pd.DataFrame) -> float:
    """The subjects' mean pairwise residual correlation, over the days every subject has one."""
    complete = daily_ar.dropna()
    return E.mean_pairwise_correlation(complete.to_numpy()) if len(complete) > 2 else 0.0


def t_test(values: np.ndarray) -> tuple[float, float]:
    """Cross-sectional t-test of a mean against zero (statistic, two-sided p)."""
    from scipy import stats

    n = len(values)
    if n < 2 or values.std(ddof=1) == 0:
        return float("nan"), float("nan")
    t = float(values.mean() / (values.std(ddof=1) / np.sqrt(n)))
    return t, float(2 * stats.t.sf(abs(t), n - 1))


@dataclass
class Panel:
    models: Models
    cars: dict  # (window, kind) -> (car, sd), each days x subjects
    obs: pd.DataFrame  # category, window (label), bounds, session, symbol, t, s
    r_symbols: float  # the subjects' mean residual correlation (Kolari-Pynnonen)
    period: Callable[[tuple[int, int]], str]

    def _groups(self):  # noqa: ANN202 - (category, label) and its rows
        return self.obs.groupby(["category", "window"], sort=True) if len(self.obs) else []

    def _values(self, g: pd.DataFrame, kind: str) -> tuple[np.ndarray, np.ndarray]:
        car, sd = self.cars[(g["bounds"].iloc[0], kind)]
        t, s = g["t"].to_numpy(), g["s"].to_numpy()
        return car[t, s], sd[t, s]

    def _base(self, cat: str, win: str, g: pd.DataFrame, car: np.ndarray) -> dict:
        return {"category": cat, "window": win, "period": self.period(g["bounds"].iloc[0]),
                "car_pct": 100 * float(car.mean()), "sessions": g["session"].nunique(), "observations": len(g)}

    def tests(self, means: pd.DataFrame) -> pd.DataFrame:
        """Every parametric test per category and window (market model), and the robustness rows.

        Kolari-Pynnonen: symbols on one session share its shock, with the symbols' mean residual correlation r;
        observations on different sessions are taken as uncorrelated, so the group's mean correlation is r times
        the share of its pairs that fall on one session."""
        rows = []
        for (cat, win), g in self._groups():
            n = len(g)
            same = int((g.groupby("session").size().map(lambda k: k * (k - 1) / 2)).sum())
            r = self.r_symbols * same / (n * (n - 1) / 2) if n > 1 else 0.0
            car, sd = self._values(g, MARKET_MODEL)
            lo, hi = g["bounds"].iloc[0]
            est = np.vstack([self.models.estimation_ar(t, s) for t, s in zip(g["t"], g["s"], strict=True)])
            event = np.vstack([self.models.abnormal(t, s, np.arange(t + lo, t + hi + 1))
                               for t, s in zip(g["t"], g["s"], strict=True)])
            t_row = means[(means["category"] == cat) & (means["window"] == win)].iloc[0]
            found = {T_TEST: (t_row["t_stat"], t_row["p_value"]), "BMP": E.bmp(car, sd),
                     "Kolari-Pynnonen BMP": E.kolari_pynnonen(car, sd, r), "Corrado rank": E.corrado_rank(est, event),
                     "generalized sign": E.generalized_sign(car, est)}
            base = self._base(cat, win, g, car)
            rows += [{"test": k, "model": MARKET_MODEL, "statistic": v[0], "p_value": v[1], **base}
                     for k, v in found.items()]
            for kind in (MARKET_ADJUSTED, CONSTANT_MEAN):
                car_k, sd_k = self._values(g, kind)
                base_k = self._base(cat, win, g, car_k)
                rows += [{"test": k, "model": kind, "statistic": v[0], "p_value": v[1], **base_k}
                         for k, v in ((T_TEST, t_test(car_k)), ("BMP", E.bmp(car_k, sd_k)))]
        return pd.DataFrame(rows, columns=[c for c in TEST_COLUMNS if c not in ("p_adjusted", "sample")])

    def placebo(self, event_days: np.ndarray, draws: int, rng: np.random.Generator,
                clear: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per category and window: placebo rows for `tests` (mean CAR and BMP) and the placebo table."""
        rows, table = [], []
        t_all = np.arange(len(self.models.days))
        marks = np.concatenate([[0], np.cumsum(event_days)])
        for (cat, win), g in self._groups():
            w = g["bounds"].iloc[0]
            car, sd = self.cars[(w, MARKET_MODEL)]
            lo, hi = np.clip(t_all + w[0], 0, len(t_all)), np.clip(t_all + w[1] + 1, 0, len(t_all))
            quiet = ((marks[hi] - marks[lo] == 0) | (not clear)) & ~event_days
            cand = np.flatnonzero(quiet & (t_all + w[0] >= self.models.stop) & np.isfinite(car).any(axis=1))
            real_car, real_sd = self._values(g, MARKET_MODEL)
            k = g["session"].nunique()
            base = self._base(cat, win, g, real_car)
            info = {**base, "candidates": len(cand), "draws": draws,
                    "note": "" if clear else "placebo windows may hold event sessions (events are dense)"}
            if len(cand) < k:
                info["note"] = f"only {len(cand)} non-event sessions for {k} event sessions: no placebo"
                mean_car, z = np.full(1, np.nan), np.full(1, np.nan)
            else:
                picks = cand[np.argsort(rng.random((draws, len(cand))), axis=1)[:, :k]]
                mean_car, z = placebo_statistics(car[picks], sd[picks])
            real_z = E.bmp(real_car, real_sd)[0]
            p_car, p_z = E.placebo_p(float(real_car.mean()), mean_car), E.placebo_p(real_z, z)
            rows += [{"test": PLACEBO_CAR, "model": MARKET_MODEL, "statistic": 100 * float(real_car.mean()),
                      "p_value": p_car, **base},
                     {"test": PLACEBO_BMP, "model": MARKET_MODEL, "statistic": real_z, "p_value": p_z, **base}]
            finite = mean_car[np.isfinite(mean_car)]
            table.append({**info, "placebo_mean_car_pct": 100 * finite.mean() if len(finite) else np.nan,
                          "placebo_low_car_pct": 100 * np.quantile(finite, 0.025) if len(finite) else np.nan,
                          "placebo_high_car_pct": 100 * np.quantile(finite, 0.975) if len(finite) else np.nan,
                          "p_value": p_car})
        return (pd.DataFrame(rows, columns=[c for c in TEST_COLUMNS if c not in ("p_adjusted", "sample")]),
                pd.DataFrame(table, columns=PLACEBO_COLUMNS))

    def bootstrap(self, draws: int, rng: np.random.Generator) -> pd.DataFrame:
        """Per category and window: the mean CAR's cluster bootstrap over event sessions."""
        rows = []
        for (cat, win), g in self._groups():
            car, _ = self._values(g, MARKET_MODEL)
            counts = E.session_draws(g["session"].nunique(), draws, rng)
            stat, p = E.cluster_bootstrap(car, g["session"].to_numpy(), counts)
            rows.append({"test": BOOTSTRAP, "model": MARKET_MODEL, "statistic": stat, "p_value": p,
                         **self._base(cat, win, g, car)})
        return pd.DataFrame(rows, columns=[c for c in TEST_COLUMNS if c not in ("p_adjusted", "sample")])


def placebo_statistics(car: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw (first axis) the mean CAR and the BMP z over every session and subject with a CAR (NaN: none)."""
    flat_car = car.reshape(len(car), -1)
    scar = (car / sd).reshape(len(car), -1)
    n = np.isfinite(flat_car).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_car = np.nansum(flat_car, axis=1) / n
        mean_s = np.nansum(scar, axis=1) / n
        sd_s = np.sqrt(np.nansum((scar - mean_s[:, None]) ** 2, axis=1) / (n - 1))
        z = np.where(n > 1, mean_s * np.sqrt(n) / sd_s, np.nan)
    return mean_car, z
