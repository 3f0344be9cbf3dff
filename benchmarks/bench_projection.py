"""The pooled rolling-origin backtest, vectorised against a plain loop over fits and paths, with peak memory.

    python benchmarks/bench_projection.py [--draws 2000] [--repeat 3]

Both ways fit every model under every scenario at every feasible cutoff of every ledger series and draw the
same predictive paths; the plain way evaluates one path at a time in Python, as a first version would. The
floor is the fitting alone (the draws are the rest). Prints seconds, the ratios and the peak memory of each
(tracemalloc), and checks both give the same quantiles.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from tokenwatch.methods import backtest as B
from tokenwatch.methods import projection as P
from tokenwatch.tokens import as_of, load_ledger


def plain_draws(f: P.Fit, dates: pd.DatetimeIndex, k: int, rng: np.random.Generator) -> np.ndarray:
    """`Fit.log_draws`, one path at a time (same random numbers in the same order)."""
    t = P.years(dates, f.origin)
    p = len(f.params)
    vals, vecs = np.linalg.eigh(f.cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    scale = np.sqrt(f.dof / rng.chisquare(f.dof, size=(k, 1)))
    z = rng.standard_normal((k, p))
    noise_z = rng.standard_normal((k, 1))
    start_u = rng.uniform(-1.0, 1.0, size=(k, 1))
    gap = f.anchor_t / max(f.n - 1, 1)
    ramp = np.sqrt(np.clip((t - f.anchor_t) / gap, 0.0, 1.0))
    out = np.empty((k, len(t)))
    for i in range(k):
        theta = np.clip(f.params + scale[i] * (root @ z[i]), f.lower, f.upper)
        start = f.log_anchor + f.anchor_halfwidth * start_u[i, 0]
        for j, tj in enumerate(t):
            out[i, j] = min(f.anchored(theta[None, :], np.array([tj]), start)[0, 0]
                            + scale[i, 0] * f.sigma * noise_z[i, 0] * ramp[j], f.log_cap)
    return out


def pooled(draw: Callable[..., np.ndarray] | None, k: int) -> list[np.ndarray]:
    """Every cell's draws (or, with draw=None, the fits alone: the floor)."""
    ledger, scenarios = load_ledger(), P.load_scenarios()
    rng = np.random.default_rng(0)
    out = []
    for name in B.eligible_series(ledger):
        full = P.observations(ledger, name)
        for cutoff in sorted(full["public_from"].unique()):
            later = full[full["public_from"] > cutoff]
            obs = full[full["public_from"] <= cutoff].reset_index(drop=True)
            if later.empty or len(obs) < 3:
                continue
            fits, _ = P.fit_specs(obs, list(P.MODELS), scenarios, as_of(ledger, pd.Timestamp(cutoff)))
            if draw is None:
                continue
            for f in fits:
                out.append(draw(f, pd.DatetimeIndex(later["date"]), k, rng))
    return out


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, int, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=2000, help="draws per cell (the notebook uses 2000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t_fit, m_fit, _ = timed(lambda: pooled(None, args.draws), args.repeat)
    t_fast, m_fast, fast = timed(lambda: pooled(lambda f, d, k, r: f.log_draws(d, k, r), args.draws), args.repeat)
    t_slow, m_slow, slow = timed(lambda: pooled(plain_draws, args.draws), 1)
    ledger = load_ledger()
    pool = B.rolling_origin(ledger, list(P.MODELS), P.load_scenarios(), k=args.draws)
    public = ledger.set_index("id")["public_from"]
    t_cal, m_cal, _ = timed(lambda: B.evaluated(pool, B.Calibrator(pool, public, B.LOSO)), args.repeat)
    assert isinstance(fast, list) and isinstance(slow, list)
    worst = max(float(np.max(np.abs(np.quantile(a, [0.1, 0.5, 0.9], axis=0) - np.quantile(b, [0.1, 0.5, 0.9], axis=0))))
                for a, b in zip(fast, slow, strict=True))
    cells = sum(a.shape[1] for a in fast)
    print(f"{len(fast)} fits, {cells} cells x {args.draws} draws")
    print(f"fits alone (floor): {t_fit:.3f} s, peak {m_fit / 2**20:.1f} MiB")
    print(f"vectorised:         {t_fast:.3f} s, peak {m_fast / 2**20:.1f} MiB")
    print(f"plain loop:         {t_slow:.3f} s, peak {m_slow / 2**20:.1f} MiB")
    print(f"then calibration (kappa per model and held-out series) and scoring: {t_cal:.3f} s, "
          f"peak {m_cal / 2**20:.1f} MiB")
    print(f"ratio vectorised/plain: {t_fast / t_slow:.4f}; vectorised/floor: {t_fast / t_fit:.2f}; "
          f"largest difference in log quantiles: {worst:.1e}")


if __name__ == "__main__":
    main()
