"""Monte Carlo prediction intervals: the vectorised draw against a plain loop over paths, in one run.

    python benchmarks/bench_projection.py [--paths 10000]

Fits every model under every scenario to Doubao's disclosures, then times the quantiles of
`paths` draws on a month-end grid to 2027-12-31 both ways, checks they agree, and prints the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from tokenwatch.methods import projection as P
from tokenwatch.tokens import load_ledger


def plain_quantiles(f: P.Fit, dates: pd.DatetimeIndex, paths: int, seed: int = 0) -> pd.DataFrame:
    """One path at a time: draw parameters and noise, evaluate the curve, collect, then take quantiles."""
    rng = np.random.default_rng(seed)
    theta = rng.multivariate_normal(f.params, f.cov, size=paths, method="eigh")
    noise = rng.normal(0.0, f.sigma, size=(paths, 1))
    t = P._years(dates, f.origin)
    rows = [f._log_curve(theta[i:i + 1], t)[0] + noise[i, 0] for i in range(paths)]
    q = np.exp(np.quantile(np.array(rows), list(P.QUANTILES.values()), axis=0))
    return pd.DataFrame(q.T, columns=list(P.QUANTILES), index=dates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=10_000)
    args = parser.parse_args()
    ledger = load_ledger()
    obs = P.observations(ledger, "doubao")
    scenarios = P.load_scenarios()
    fits = [P.fit(obs, m, s, ledger) for m in P.MODELS for _, s in scenarios.iterrows()]
    grid = P.month_grid(obs["date"].iloc[0], pd.Timestamp("2027-12-31"))
    t0 = time.perf_counter()
    fast = [f.quantiles(grid, args.paths) for f in fits]
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = [plain_quantiles(f, grid, args.paths) for f in fits]
    t_slow = time.perf_counter() - t0
    worst = max(float(np.max(np.abs(np.log(a.to_numpy() / b.to_numpy())))) for a, b in zip(fast, slow, strict=True))
    print(f"{len(fits)} fits x {args.paths} paths x {len(grid)} dates")
    print(f"vectorised: {t_fast:.3f} s ({t_fast / len(fits) * 1000:.1f} ms a fit)")
    print(f"plain loop: {t_slow:.3f} s")
    print(f"ratio vectorised/plain: {t_fast / t_slow:.4f}; largest log difference between the two: {worst:.2e}")


if __name__ == "__main__":
    main()
