"""A local parquet cache of fetched prices, one file per (kind, symbol, source), each stamped with its vintage.

Layout: `<cache>/<kind>/<market>/<code>.<source>.parquet` with kind `daily` or `factors`. The parquet
schema metadata holds the vintage (when it was fetched, UTC), the upstream and price basis, the
akshare version and a SHA-256 of the frame's contents. A read checks that hash, so a truncated or
corrupt file is detected, reported and moved aside (`*.corrupt-<time>`) instead of used.

Writes go to a temporary file beside the target and are renamed over it, under a per-entry file lock,
so two processes fetching at once never leave a torn or half-merged file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock
from filelock import Timeout as LockTimeout

from tokenwatch import reads
from tokenwatch.artifacts import atomic_write_bytes
from tokenwatch.errors import CacheCorruptError, DataNotFoundError, TokenwatchError
from tokenwatch.paths import data_dir
from tokenwatch.universe import Symbol

CACHE_ENV = "TOKENWATCH_CACHE"
KINDS = ("daily", "factors")
META_KEY = b"tokenwatch"
LOCK_TIMEOUT = 120.0  # seconds to wait for another writer of the same entry


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

    @contextlib.contextmanager
    def lock(self, kind: str, symbol: Symbol, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """One writer at a time per symbol and kind, across processes; a wait is said, not silent."""
        folder = self.root / kind / symbol.market
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f".{symbol.code}.lock"
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=min(2.0, timeout))
        except LockTimeout:
            print(f"tokenwatch: waiting up to {timeout:g} s for {path}: another process is writing the cached "
                  f"{kind} of {symbol}", file=sys.stderr)
            try:
                lock.acquire(timeout=timeout)
            except LockTimeout:
                raise TokenwatchError(
                    f"gave up after {timeout:g} s waiting for {path}, held by another process writing the cached "
                    f"{kind} of {symbol} (a fetch still running, or one that hung): stop that process, or delete "
                    "the lock file if no tokenwatch process is running") from None
        try:
            yield
        finally:
            lock.release()

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
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        atomic_write_bytes(path, buffer.getvalue())
        return self._entry(kind, symbol, source, path, meta, frame)

    def read(self, kind: str, symbol: Symbol, source: str) -> tuple[pd.DataFrame, Entry]:
        """The cached frame and its entry; DataNotFoundError if absent, CacheCorruptError if damaged.

        The file is read through one open handle (a writer renames a new file over it, so that handle
        sees one whole version), and a file that reads badly is read once more before it is called
        corrupt: only a file that is still the one read badly is moved aside.
        """
        path = self.path(kind, symbol, source)
        problem, inode = "", None
        for _ in range(2):
            try:
                with open(path, "rb") as fh:
                    inode = os.fstat(fh.fileno()).st_ino
                    data = fh.read()
            except FileNotFoundError:
                raise DataNotFoundError(f"nothing cached for {symbol} from {source} ({path})") from None
            try:
                table = pq.read_table(pa.BufferReader(data))
                meta = json.loads(table.schema.metadata[META_KEY])
                frame = table.to_pandas()
            except Exception as exc:  # noqa: BLE001 - any failure to read back is corruption
                problem = f"is unreadable ({type(exc).__name__}: {exc})"
                continue
            if meta.get("rows") == len(frame) and meta.get("sha256") == content_hash(frame):
                return frame, self._entry(kind, symbol, source, path, meta, frame)
            problem = "does not match the checksum it was written with"
        moved = self.quarantine(path, inode)
        where = f"moved to {moved.name}" if moved else "already replaced or removed by another process"
        raise CacheCorruptError(f"cache file {path} {problem}; {where}; fetch {symbol} again with "
                                f"`tokenwatch data fetch {symbol}`")

    def quarantine(self, path: Path, inode: int | None = None) -> Path | None:
        """Move a damaged file aside; None when it is gone, or (given `inode`) no longer that file."""
        target = path.with_name(f"{path.name}.corrupt-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S%f}")
        try:
            if inode is not None and os.stat(path).st_ino != inode:
                return None  # a writer put a new file in its place: leave that one alone
            os.replace(path, target)
        except FileNotFoundError:
            return None
        return target

    def sources(self, kind: str, symbol: Symbol) -> list[str]:
        """Sources with an entry for this symbol (the look is recorded: an entry added later makes a run stale)."""
        names = reads.looked_for(self.root / kind / symbol.market, f"{symbol.code}.*.parquet")
        return sorted(name[len(symbol.code) + 1:-len(".parquet")] for name in names)

    def symbols(self, kind: str, market: str) -> list[str]:
        return sorted({name.split(".")[0] for name in reads.looked_for(self.root / kind / market, "*.parquet")})

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
        """Whether any daily entry is cached (recorded: a run made on an empty cache is stale once it fills)."""
        return bool(reads.looked_for(self.root / "daily", reads.ANY + "*/*.parquet"))

    @staticmethod
    def _entry(kind: str, symbol: Symbol, source: str, path: Path, meta: dict, frame: pd.DataFrame) -> Entry:
        dates = frame.index if isinstance(frame.index, pd.DatetimeIndex) else pd.DatetimeIndex(
            frame["ex_date"] if "ex_date" in frame else frame.get("date", pd.Series(dtype="datetime64[ns]")))
        return Entry(kind, symbol, source, path, pd.Timestamp(meta["vintage"]), meta["upstream"],
                     meta["price_basis"], meta["akshare_version"], len(frame),
                     dates.min() if len(dates) else None, dates.max() if len(dates) else None)
