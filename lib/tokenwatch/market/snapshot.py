"""The offline snapshot: a folder laid out like ../shared/market.

    cn/<code>.csv          A-share stocks, raw prices (+ ADJ_FACTORS.csv, ADJ_COVERAGE.csv)
    cn_index/<code>.csv    A-share indices and funds, and HSI
    us/<SYMBOL>.csv        US stocks, ETFs and indices, with adj_close
    cn_all/daily.parquet   the whole A-share main board (+ its own factor files)
    */PROVENANCE.csv       where each series came from and its price basis
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from tokenwatch import reads
from tokenwatch.errors import DataNotFoundError, DataValidationError
from tokenwatch.market.base import FACTOR_COLUMNS, PriceSource, SeriesData
from tokenwatch.market.validate import DAILY_COLUMNS, validate_daily
from tokenwatch.universe import Symbol, read_codes_csv

# what the files parsed below depend on: this module, the checks of daily prices, the reader of code tables
_CODE = reads.code_version(__file__, validate_daily.__code__.co_filename, read_codes_csv.__code__.co_filename)

FOLDERS = {"cn": "cn", "cn_index": "cn_index", "hk_index": "cn_index", "us": "us"}
ALL_CN = "cn_all"


def read_daily_csv(path: Path, label: str) -> pd.DataFrame:
    """Read one `date,open,high,low,close,volume[,adj_close]` file and validate it (parsed once per content in
    a warm kernel: `reads.parsed`)."""
    return reads.parsed(path, f"{_CODE}:daily:{label}", lambda data: _read_daily_csv(data, str(path), label)).copy()


def _read_daily_csv(data: bytes, path: str, label: str) -> pd.DataFrame:
    try:
        raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{label}: {path} is empty; expected a header date,open,high,low,close,volume "
                                  "and one row a day (restore the file from the snapshot)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{label}: {path} is not a readable CSV ({exc})") from None
    if raw.empty:
        raise DataValidationError(f"{label}: {path} has a header but no rows; restore the file from the snapshot")
    missing = [c for c in ["date", *DAILY_COLUMNS] if c not in raw.columns]
    if missing:
        raise DataValidationError(
            f"{label}: {path} lacks columns {missing}; expected date,open,high,low,close,volume"
        )
    out = pd.DataFrame(index=pd.DatetimeIndex(pd.to_datetime(raw["date"], format="%Y-%m-%d", errors="coerce"),
                                              name="date"))
    if out.index.hasnans:
        line = int(out.index.isna().argmax()) + 2
        raise DataValidationError(f"{label}: {path} line {line}: date {raw['date'].iloc[line - 2]!r} is not YYYY-MM-DD")
    for col in [c for c in [*DAILY_COLUMNS, "adj_close"] if c in raw.columns]:
        text = raw[col].str.strip()
        values = pd.to_numeric(text.replace("", None), errors="coerce")
        bad = values.isna() & (text != "")
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2
            raise DataValidationError(f"{label}: {path} line {line}: {col} {text.iloc[line - 2]!r} is not a number")
        out[col] = values.to_numpy(dtype=float)
    return validate_daily(out, label)


def _read_table(path: Path) -> pd.DataFrame:
    return reads.parsed(path, f"{_CODE}:codes", lambda data: read_codes_csv(io.BytesIO(data), name=str(path)))


def _factors_by_code(path: Path) -> dict[str, pd.DataFrame | ValueError]:
    """Each code's ex-rights factors (FACTOR_COLUMNS, dates parsed, numbers numeric, by ex-date), parsed once per
    content of ADJ_FACTORS.csv."""
    def one(rows: pd.DataFrame) -> pd.DataFrame | ValueError:
        rows = rows.copy()
        try:  # a bad date fails its own code's loads, as it did when each load parsed its rows
            rows["ex_date"] = pd.to_datetime(rows["ex_date"], format="%Y-%m-%d")
        except ValueError as exc:
            return exc
        for col in FACTOR_COLUMNS[1:]:
            rows[col] = pd.to_numeric(rows[col], errors="coerce")
        return rows[FACTOR_COLUMNS].sort_values("ex_date").reset_index(drop=True)

    def group(data: bytes) -> dict[str, pd.DataFrame | ValueError]:
        return {str(code): one(rows) for code, rows in _read_table(path).groupby("code", sort=False)}

    return reads.parsed(path, f"{_CODE}:factors", group)


def _by_code(path: Path, column: str) -> dict[str, pd.DataFrame]:
    """A codes table's rows grouped by `column` (parsed once per content)."""
    def group(data: bytes) -> dict[str, pd.DataFrame]:
        table = _read_table(path)  # the table as parsed once for this content
        if column not in table.columns:
            return {}
        return {str(code): rows for code, rows in table.groupby(column, sort=False)}

    return reads.parsed(path, f"{_CODE}:by:{column}", group)


class SnapshotSource(PriceSource):
    """Daily prices from an offline snapshot folder."""

    name = "snapshot"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DataNotFoundError(
                f"snapshot folder {self.root} does not exist; point TOKENWATCH_SNAPSHOT at a folder "
                "holding cn/, cn_index/ and us/ (for example ../shared/market)"
            )
        if not any((self.root / f).is_dir() for f in {*FOLDERS.values(), ALL_CN}):
            raise DataNotFoundError(
                f"snapshot folder {self.root} holds none of cn/, cn_index/, us/, cn_all/; "
                "is TOKENWATCH_SNAPSHOT pointing at the right folder?"
            )

    def describe(self) -> str:
        """'snapshot market/': the folder's name, never the machine's path (it goes into shared reports)."""
        return f"snapshot {self.root.name}/"

    # --- files -----------------------------------------------------------------
    def _table(self, folder: str, name: str) -> pd.DataFrame:
        path = self.root / folder / name
        if not path.exists():
            return pd.DataFrame()
        return _read_table(path)

    def _csv_path(self, symbol: Symbol) -> Path:
        return self.root / FOLDERS[symbol.market] / f"{symbol.code}.csv"

    def _provenance(self, folder: str, code: str) -> tuple[str, str]:
        path = self.root / folder / "PROVENANCE.csv"
        prov = self._table(folder, "PROVENANCE.csv")
        if prov.empty or "symbol" not in prov.columns:
            return f"{self.describe()}/{folder}", "unknown (no PROVENANCE.csv)"
        rows = _by_code(path, "symbol").get(code, prov.iloc[:0])
        repos = " + ".join(dict.fromkeys(rows.get("source_repo", pd.Series(dtype=str)).dropna()))
        basis = " | ".join(dict.fromkeys(rows.get("price_basis", pd.Series(dtype=str)).dropna()))
        return f"snapshot {folder}/ ({repos or 'source not recorded'})", basis or "not recorded"

    # --- PriceSource ---------------------------------------------------------------
    def daily(self, symbol: Symbol) -> SeriesData:
        path = self._csv_path(symbol)
        if path.exists():
            frame = read_daily_csv(path, str(symbol))
            source, basis = self._provenance(FOLDERS[symbol.market], symbol.code)
            if symbol.market == "us" and "adj_close" not in frame.columns:
                raise DataValidationError(
                    f"{symbol}: {path} has no adj_close column (its columns: {', '.join(['date', *frame.columns])}), "
                    f"so split and dividend adjusted returns cannot be computed (provenance: {basis}); restore "
                    "the column from the snapshot's source, or fetch the symbol live")
            return SeriesData(symbol, frame, source, basis)
        if symbol.market == "cn":
            frame = self._all_cn_frame(symbol.code)
            if frame is not None:
                source, basis = self._provenance(ALL_CN, symbol.code)
                return SeriesData(symbol, frame, source, basis)
        raise DataNotFoundError(
            f"no prices for {symbol} in {self.describe()} (looked for {path}"
            + (f" and in {ALL_CN}/daily.parquet" if symbol.market == "cn" else "")
            + "); check the code, or fetch it live with akshare"
        )

    def _factor_folder(self, symbol: Symbol) -> str:
        return "cn" if self._csv_path(symbol).exists() else ALL_CN

    def adj_factors(self, symbol: Symbol) -> pd.DataFrame:
        if symbol.market != "cn":
            return pd.DataFrame(columns=FACTOR_COLUMNS)
        folder = self._factor_folder(symbol)
        table = self._table(folder, "ADJ_FACTORS.csv")
        if table.empty:
            through = self.adj_complete_through(symbol)
            if through is not None:  # coverage promises factors that are not there
                raise DataValidationError(
                    f"{symbol}: {self.root / folder / 'ADJ_COVERAGE.csv'} says its ex-rights factors are complete "
                    f"through {through.date()}, but {self.root / folder / 'ADJ_FACTORS.csv'} is missing or empty; "
                    "restore that file (adjusted returns would silently be raw ones without it)")
            return pd.DataFrame(columns=FACTOR_COLUMNS)
        missing = [c for c in ["code", *FACTOR_COLUMNS] if c not in table.columns]
        if missing:
            raise DataValidationError(f"{self.root / folder / 'ADJ_FACTORS.csv'} lacks columns {missing}; expected "
                                      f"code,{','.join(FACTOR_COLUMNS)}")
        rows = _factors_by_code(self.root / folder / "ADJ_FACTORS.csv").get(symbol.code)
        if rows is None:
            return pd.DataFrame(columns=FACTOR_COLUMNS)
        if isinstance(rows, ValueError):
            raise rows
        bad = rows.loc[~(rows["factor"] > 0)]
        if len(bad):
            raise DataValidationError(f"ADJ_FACTORS.csv: {symbol} ex-date {bad['ex_date'].iloc[0].date()} has factor "
                                      f"{bad['factor'].iloc[0]}")
        return rows.copy()

    def adj_complete_through(self, symbol: Symbol) -> pd.Timestamp | None:
        if symbol.market != "cn":
            return None
        folder = self._factor_folder(symbol)
        table = self._table(folder, "ADJ_COVERAGE.csv")
        if table.empty or "code" not in table.columns:
            return None
        rows = _by_code(self.root / folder / "ADJ_COVERAGE.csv", "code").get(symbol.code)
        return pd.Timestamp(rows["complete_through"].iloc[0]) if rows is not None else None

    def symbols(self, market: str) -> list[str]:
        folder = self.root / FOLDERS[market]
        codes = {p.stem for p in folder.glob("*.csv") if not p.stem.isupper() or market != "cn"}
        codes -= {"PROVENANCE", "UNIVERSE", "ADJ_FACTORS", "ADJ_COVERAGE", "ADJ_SOURCES"}
        if market == "hk_index":
            codes &= {"HSI"}
        elif market == "cn_index":
            codes -= {"HSI"}
        if market == "cn" and (self.root / ALL_CN / "daily.parquet").exists():
            codes |= set(self._all_cn()[1])
        return sorted(codes)

    # --- the whole market ----------------------------------------------------------
    def _all_cn(self) -> tuple[pd.DataFrame, dict[str, slice]]:
        path = self.root / ALL_CN / "daily.parquet"
        if not path.exists():
            return pd.DataFrame(), {}
        return reads.parsed(path, f"{_CODE}:all_cn", lambda data: _load_all_cn(data, str(path)))

    def _all_cn_frame(self, code: str) -> pd.DataFrame | None:
        frame, where = self._all_cn()
        if code not in where:
            return None
        out = frame.iloc[where[code]].set_index("date").drop(columns="symbol")
        return validate_daily(out, f"cn:{code}")

    def all_cn(self, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
               columns: list[str] | None = None) -> pd.DataFrame:
        """The whole A-share main board as a tidy frame (date, symbol, ...), validated."""
        path = self.root / ALL_CN / "daily.parquet"
        if not path.exists():
            raise DataNotFoundError(f"{path} is missing: the whole-market snapshot is not in {self.root}")
        filters = []
        if start is not None:
            filters.append(("date", ">=", pd.Timestamp(start).date()))
        if end is not None:
            filters.append(("date", "<=", pd.Timestamp(end).date()))
        cols = None if columns is None else ["date", "symbol", *[c for c in columns if c not in ("date", "symbol")]]
        frame = _read_parquet(str(path), columns=cols, filters=filters or None)
        frame["date"] = pd.to_datetime(frame["date"])
        return frame

    def all_cn_factors(self) -> pd.DataFrame:
        """Ex-rights factors for every stock in cn_all (code, ex_date, factor, ...)."""
        table = self._table(ALL_CN, "ADJ_FACTORS.csv").copy()
        table["ex_date"] = pd.to_datetime(table["ex_date"], format="%Y-%m-%d")
        table["factor"] = pd.to_numeric(table["factor"])
        return table


def _load_all_cn(data: bytes, path: str) -> tuple[pd.DataFrame, dict[str, slice]]:
    """The whole-market parquet file's bytes as one frame sorted by symbol and date, and each symbol's rows."""
    frame = _read_parquet(path, source=io.BytesIO(data))
    frame["date"] = pd.to_datetime(frame["date"])
    for col in ["open", "high", "low", "close"]:
        # stored as float32; prices are quoted to 0.01 (funds 0.001), so 4 decimals undo the float noise
        frame[col] = frame[col].astype("float64").round(4)
    frame = frame.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    codes = frame["symbol"].to_numpy()
    starts = pd.Series(range(len(codes)), index=codes).groupby(level=0).agg(["min", "max"])
    where = {c: slice(int(a), int(b) + 1) for c, (a, b) in zip(starts.index, starts.to_numpy(), strict=True)}
    return frame, where


def _read_parquet(path: str, source: io.BytesIO | None = None, **kwargs) -> pd.DataFrame:
    """pd.read_parquet of `path` (or of its bytes already read, `source`), naming the file when its bytes are not a
    readable parquet file."""
    import pyarrow as pa

    if source is None:
        reads.note(path)  # pyarrow opens it in C: tell the execution cache
    try:
        return pd.read_parquet(source if source is not None else path, **kwargs)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"{path} is not a readable parquet file ({type(exc).__name__}: {exc}); restore "
                                  "it from the snapshot") from None
