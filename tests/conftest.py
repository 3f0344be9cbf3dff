"""Shared fixtures: the offline snapshot (required in CI) and a tiny synthetic one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.market import SNAPSHOT_ENV, SnapshotSource

# Tests read the snapshot only: an empty cache (a developer's data/cache is never used) and no live
# fetching. Set here, at import, so notebook kernels started by the runner inherit it.
os.environ["TOKENWATCH_CACHE"] = tempfile.mkdtemp(prefix="tokenwatch-test-cache-")
os.environ.pop("TOKENWATCH_LIVE", None)
# The user cache (parameter inspections, run durations) too: a developer's durations.json would reorder the
# batches the tests run, and the tests' would reorder the developer's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="tokenwatch-test-xdg-")


@pytest.fixture(autouse=True)
def _no_run_durations() -> None:
    """Every test starts with no recorded run durations, so a batch runs in the collection's order unless the
    test records some itself (the order of one test's batch never depends on another test's runs)."""
    from tokenwatch.run.order import durations_file

    durations_file().unlink(missing_ok=True)


@pytest.fixture(scope="session")
def snapshot() -> SnapshotSource:
    """The real snapshot named by TOKENWATCH_SNAPSHOT; CI sets it, so there a gap fails."""
    root = os.environ.get(SNAPSHOT_ENV, "")
    if not root or not Path(root).is_dir():
        message = f"{SNAPSHOT_ENV} is not set to a snapshot folder (e.g. ../shared/market)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SnapshotSource(root)


def write_bars(path: Path, rows: list[tuple], adj: bool = False) -> None:
    cols = ["date", "open", "high", "low", "close", "volume"] + (["adj_close"] if adj else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)


def flat_rows(dates: list[str], closes: list[float]) -> list[tuple]:
    return [(d, c, c, c, c, 1000) for d, c in zip(dates, closes, strict=True)]


@pytest.fixture
def tiny_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A synthetic snapshot: CSI 300 calendar over two weeks, two stocks, one US name."""
    days = ["2025-06-13", "2025-06-16", "2025-06-17", "2025-06-18", "2025-06-19", "2025-06-20",
            "2025-06-23", "2025-06-24", "2025-06-25", "2025-06-26", "2025-06-27"]
    root = tmp_path / "snap"
    write_bars(root / "cn_index" / "000300.csv", flat_rows(days, [100.0 + i for i in range(len(days))]))
    # 600001: a 10-for-2 bonus with 0.5 cash goes ex on 2025-06-25 (factor 1.25)
    write_bars(root / "cn" / "600001.csv",
               flat_rows(days, [10, 10, 10, 10, 10, 10, 10, 10, 8.4, 8.4, 8.8]))
    pd.DataFrame([{"code": "600001", "ex_date": "2025-06-25", "factor": 1.25, "cash_per_share": 0.5,
                   "bonus_per_share": 0.2}]).to_csv(root / "cn" / "ADJ_FACTORS.csv", index=False)
    pd.DataFrame([{"code": "600001", "complete_through": "2025-06-26"}]).to_csv(
        root / "cn" / "ADJ_COVERAGE.csv", index=False)
    # 688002 lists on 2025-06-24
    write_bars(root / "cn" / "688002.csv", flat_rows(days[7:], [20, 21, 22, 23]))
    write_bars(root / "us" / "GSPC.csv", [(*r, r[4]) for r in flat_rows(days, [5000.0] * len(days))], adj=True)
    pd.DataFrame([{"symbol": "600001", "source_repo": "synthetic/test", "price_basis": "raw (unadjusted)"}]).to_csv(
        root / "cn" / "PROVENANCE.csv", index=False)
    monkeypatch.setenv(SNAPSHOT_ENV, str(root))
    return root
