"""A local parquet cache of fetched prices, one file per (kind, symbol, source), each stamped with its vintage.

Layout: `<cache>/<kind>/<market>/<code>.<source>.parquet` with kind `daily` or `factors`. The parquet
schema metadata holds the vintage (when it was fetched, UTC), the upstream and price basis, the
akshare version and a SHA-256 of the frame's contents. A read checks that hash, so a truncated or
corrupt file is detected, reported and moved aside (`*.corrupt-<time>`) instead of used.

Writes go to a temporary file beside the target and are renamed over it, under a per-entry file lock,
so two processes fetching at once never leave a torn or half-merged file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from ..errors import DataNotFoundError, DataValidationError
from ..paths import data_dir
from ..universe import Symbol

CACHE_ENV = "TOKENWATCH_CACHE"
KINDS = ("daily", "factors")
META_KEY = b"tokenwatch"


class CacheCorruptError(DataValidationError):
    """A cache file could not be read back as written."""


def cache_dir() -> Path:
    """The cache root: $TOKENWATCH_CACHE, else data/cache (git-ignored)."""
    return Path(os.environ.get(CACHE_ENV) or data_dir() / "cache")


def content_hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """What the cache holds for one (kind, symbol, source)."""

    kind: str
    symbol: Symbol
    source: str
    path: Path
    vintage: pd.Timestamp
    upstream: str
    price_basis: str
    akshare_version: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None

    @property
    def age(self) -> pd.Timedelta:
        return pd.Timestamp.now(tz="UTC") - self.vintage


class Cache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else cache_dir()

    def path(self, kind: str, symbol: Symbol, source: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"cache kind {kind!r} is not one of {KINDS}")
        return self.root / kind / symbol.market / f"{symbol.code}.{source}.parquet"

    def lock(self, kind: str, symbol: Symbol) -> FileLock:
        """One writer at a time per symbol and kind, across processes."""
        folder = self.root / kind / symbol.market
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f".{symbol.code}.lock"), timeout=120)

    def write(self, kind: str, symbol: Symbol, source: str, frame: pd.DataFrame, *, upstream: str,
              price_basis: str, akshare_version: str, vintage: pd.Timestamp | None = None) -> Entry:
        """Write atomically (temp file + rename); call under `lock` when merging with what is there."""
        path = self.path(kind, symbol, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        vintage = vintage or pd.Timestamp.now(tz="UTC")
        meta = {"vintage": vintage.isoformat(), "upstream": upstream, "price_basis": price_basis,
                "akshare_version": akshare_version, "source": source, "rows": len(frame),
                "sha256": content_hash(frame)}
        table = pa.Table.from_pandas(frame, preserve_index=True)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self._entry(kind, symbol, source, path, meta, frame)

    def read(self, kind: str, symbol: Symbol, source: str) -> tuple[pd.DataFrame, Entry]:
        """The cached frame and its entry; DataNotFoundError if absent, CacheCorruptError if damaged."""
        path = self.path(kind, symbol, source)
        if not path.is_file():
            raise DataNotFoundError(f"nothing cached for {symbol} from {source} ({path})")
        try:
            table = pq.read_table(path)
            meta = json.loads(table.schema.metadata[META_KEY])
            frame = table.to_pandas()
        except Exception as exc:  # noqa: BLE001 - any failure to read back is corruption
            moved = self.quarantine(path)
            raise CacheCorruptError(f"cache file {path} is unreadable ({type(exc).__name__}: {exc}); moved to "
                                    f"{moved.name}; fetch {symbol} again with `tokenwatch data fetch {symbol}`") from None
        if meta.get("rows") != len(frame) or meta.get("sha256") != content_hash(frame):
            moved = self.quarantine(path)
            raise CacheCorruptError(f"cache file {path} does not match the checksum it was written with; moved to "
                                    f"{moved.name}; fetch {symbol} again with `tokenwatch data fetch {symbol}`")
        return frame, self._entry(kind, symbol, source, path, meta, frame)

    def quarantine(self, path: Path) -> Path:
        target = path.with_name(f"{path.name}.corrupt-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S%f}")
        os.replace(path, target)
        return target

    def sources(self, kind: str, symbol: Symbol) -> list[str]:
        """Sources with an entry for this symbol."""
        folder = self.root / kind / symbol.market
        return sorted(p.name[len(symbol.code) + 1:-len(".parquet")] for p in folder.glob(f"{symbol.code}.*.parquet"))

    def symbols(self, kind: str, market: str) -> list[str]:
        folder = self.root / kind / market
        return sorted({p.name.split(".")[0] for p in folder.glob("*.parquet")})

    def entries(self) -> tuple[list[Entry], list[str]]:
        """Every entry, read back and checked; corrupt files are moved aside and described instead."""
        found, problems = [], []
        for kind in KINDS:
            for path in sorted((self.root / kind).glob("*/*.parquet")):
                code, source = path.name[:-len(".parquet")].split(".", 1)
                try:
                    found.append(self.read(kind, Symbol(path.parent.name, code), source)[1])
                except CacheCorruptError as exc:
                    problems.append(str(exc))
        return found, problems

    def has_data(self) -> bool:
        return any((self.root / "daily").glob("*/*.parquet")) if (self.root / "daily").is_dir() else False

    @staticmethod
    def _entry(kind: str, symbol: Symbol, source: str, path: Path, meta: dict, frame: pd.DataFrame) -> Entry:
        dates = frame.index if isinstance(frame.index, pd.DatetimeIndex) else pd.DatetimeIndex(
            frame["ex_date"] if "ex_date" in frame else frame.get("date", pd.Series(dtype="datetime64[ns]")))
        return Entry(kind, symbol, source, path, pd.Timestamp(meta["vintage"]), meta["upstream"],
                     meta["price_basis"], meta["akshare_version"], len(frame),
                     dates.min() if len(dates) else None, dates.max() if len(dates) else None)
