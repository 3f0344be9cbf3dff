"""Symbols with their market, the universe table and the baskets in `data/`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

import pandas as pd

from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.paths import data_dir, data_file

MARKETS = {
    "cn": "A-share stock",
    "cn_index": "A-share index or fund",
    "hk_index": "Hong Kong index",
    "us": "US stock, ETF or index",
}
_SIX_DIGITS = re.compile(r"^\d{6}$")
_US_TICKER = re.compile(r"^[A-Z][A-Z.\-]{0,9}$")


@dataclass(frozen=True, order=True)
class Symbol:
    """A code with its market; codes are strings (`002463` keeps its zeros)."""

    market: str
    code: str

    def __str__(self) -> str:
        return f"{self.market}:{self.code}"


def read_codes_csv(path: Path | str | IO[bytes], name: str = "", **kwargs) -> pd.DataFrame:
    """Read a CSV keeping `code`/`symbol` columns as strings; an unreadable file is named (`name`, for a buffer)."""
    shown = name or path
    try:
        return pd.read_csv(path, dtype={"code": str, "symbol": str}, keep_default_na=False,
                           na_values=[""], **kwargs)
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"{shown} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as "
                                  "UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataValidationError(f"{shown} is not a readable CSV ({exc})") from None


@lru_cache(maxsize=4)
def _universe(path: str) -> pd.DataFrame:
    table = read_codes_csv(path)
    missing = {"code", "name", "market", "segment"} - set(table.columns)
    if missing:
        raise DataValidationError(f"{path}: columns {sorted(missing)} are missing")
    bad = table.loc[~table["market"].isin(MARKETS.keys())]
    if len(bad):
        raise DataValidationError(
            f"{path} row {bad.index[0] + 2}: market {bad['market'].iloc[0]!r} is not one of {list(MARKETS)}"
        )
    return table


def universe(path: Path | str | None = None) -> pd.DataFrame:
    """The universe table: code, name, market, segment (and exchange, source)."""
    return _universe(str(path or data_dir() / "universe.csv")).copy()


def parse_symbol(value: object, table: pd.DataFrame | None = None) -> Symbol:
    """Turn `"cn:603228"`, `"603228"`, `"NVDA"` or a Symbol into a Symbol.

    A plain code is looked up in the universe; one not listed there is an A-share
    stock if it has six digits and a US ticker if it is letters. A code listed in
    two markets must carry its market (`cn_index:000001` is the SSE Composite).
    """
    if isinstance(value, Symbol):
        return value
    if isinstance(value, int | float):
        hint = f"'{int(value):06d}'" if isinstance(value, int) and 0 <= value < 1_000_000 else "a string"
        raise ParameterError(
            f"symbol {value!r} is a number; codes must be strings (write {hint}, "
            "and quote codes in YAML so leading zeros survive)"
        )
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(f"symbol {value!r} is not a code; use e.g. '603228', 'cn_index:000300' or 'NVDA'")
    text = value.strip()
    if ":" in text:
        market, code = text.split(":", 1)
        if market not in MARKETS:
            raise ParameterError(f"symbol {text!r}: market {market!r} is not one of {list(MARKETS)}")
        return Symbol(market, code.upper() if market in {"us", "hk_index"} else code)
    table = universe() if table is None else table
    rows = table.loc[table["code"] == text]
    if rows.empty and text.upper() != text:
        rows = table.loc[table["code"] == text.upper()]
    markets = rows["market"].unique().tolist()
    if len(markets) == 1:
        return Symbol(markets[0], rows["code"].iloc[0])
    if len(markets) > 1:
        options = ", ".join(f"'{m}:{text}'" for m in markets)
        raise ParameterError(f"symbol {text!r} is listed in several markets; write one of {options}")
    if _SIX_DIGITS.match(text):
        return Symbol("cn", text)
    if _US_TICKER.match(text.upper()):
        return Symbol("us", text.upper())
    raise ParameterError(
        f"symbol {text!r} is neither a 6-digit A-share code nor a US ticker; "
        f"prefix it with its market, one of {list(MARKETS)} (e.g. 'hk_index:HSI')"
    )


def parse_symbols(values: object, table: pd.DataFrame | None = None) -> list[Symbol]:
    """Parse one symbol or a list of them, keeping order and dropping repeats."""
    if isinstance(values, str | Symbol):
        values = [values]
    if not isinstance(values, list | tuple | pd.Index | pd.Series):
        raise ParameterError(f"expected a list of symbols, got {values!r}")
    table = universe() if table is None else table
    out: list[Symbol] = []
    for v in values:
        s = parse_symbol(v, table)
        if s not in out:
            out.append(s)
    return out


def names(symbols: list[Symbol]) -> dict[Symbol, str]:
    """Display names from the universe (the code itself when not listed)."""
    table = universe()
    lookup = {Symbol(m, c): n for m, c, n in zip(table["market"], table["code"], table["name"], strict=True)}
    return {s: lookup.get(s, s.code) for s in symbols}


BASKET_COLUMNS = ["code", "name", "segment", "market"]
_LONGEST_NAME = 255  # bytes in one file name on common file systems


def is_inline_basket(value: str) -> bool:
    """True for a basket written as codes (`cn:603228,cn:300476` or `603228,300476`), not a name or a path."""
    text = value.strip()
    return Path(text).suffix.lower() != ".csv" and ("," in text or ":" in text) and "/" not in text


def inline_basket(value: str) -> pd.DataFrame:
    """A basket from codes written inline, each looked up in the universe for its name and segment (a code not
    listed there is named by its code, in the segment 'not in data/universe.csv')."""
    table = universe()
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ParameterError(f"basket {value!r} holds no code; write codes like 'cn:603228,cn:300476'")
    symbols = parse_symbols(items, table)
    listed = {Symbol(m, c): (n, g) for m, c, n, g in
              zip(table["market"], table["code"], table["name"], table["segment"], strict=True)}
    rows = [{"code": s.code, "name": listed.get(s, (s.code, ""))[0],
             "segment": listed.get(s, ("", "not in data/universe.csv"))[1], "market": s.market} for s in symbols]
    out = pd.DataFrame(rows, columns=BASKET_COLUMNS)
    out["symbol"] = symbols
    return out


def load_basket(name_or_path: str | Path) -> pd.DataFrame:
    """A basket table (code, name, segment, market) from `data/baskets/`, a path, or codes written inline
    (`cn:603228,cn:300476`, see `inline_basket`).

    Adds a `symbol` column of Symbols. Rows keep their file order.
    """
    text = str(name_or_path)
    ways = (f"give a basket name in {data_file('baskets')}/, codes such as 'cn:603228,cn:300476', "
            "or a path to a CSV file")
    if len(text) > 1000 or "\n" in text:
        raise ParameterError(f"basket {text[:60]!r}... ({len(text)} characters) is too long for a name or a path; "
                             + ways)
    if isinstance(name_or_path, str) and is_inline_basket(text):
        return inline_basket(text)
    path = Path(name_or_path)
    if any(len(part.encode()) > _LONGEST_NAME for part in path.parts):
        raise ParameterError(f"basket {text[:40]!r}... ({len(text)} characters) is too long for a file name; " + ways)
    if not path.suffix:
        path = data_dir() / "baskets" / f"{name_or_path}.csv"
    elif not path.is_absolute() and not path.exists():
        path = data_dir() / path
    try:
        found = path.is_file()
    except OSError as exc:
        raise ParameterError(f"basket {text[:60]!r} cannot be read ({exc.strerror}); " + ways) from None
    if not found:
        available = sorted(p.stem for p in (data_dir() / "baskets").glob("*.csv"))
        raise ParameterError(f"basket {str(name_or_path)!r} not found at {path}; available: {available}; or "
                             "give codes such as 'cn:603228,cn:300476'")
    if path.stat().st_size == 0:
        raise DataValidationError(f"basket {path} is an empty file; give it a header line "
                                  f"({','.join(BASKET_COLUMNS)}) and one line per member")
    table = read_codes_csv(path)
    missing = set(BASKET_COLUMNS) - set(table.columns)
    if missing:
        raise DataValidationError(f"basket {path}: columns {sorted(missing)} are missing")
    if table.empty:
        raise DataValidationError(f"basket {path} has a header but no member; add one line per member "
                                  f"({','.join(BASKET_COLUMNS)})")
    for i, row in enumerate(table.itertuples(index=False), start=2):
        if row.market not in MARKETS:
            raise DataValidationError(f"basket {path} row {i}: market {row.market!r} is not one of {list(MARKETS)}")
        if row.market == "cn" and not _SIX_DIGITS.match(str(row.code)):
            raise DataValidationError(f"basket {path} row {i}: A-share code {row.code!r} must have six digits")
    table["symbol"] = [Symbol(m, c) for m, c in zip(table["market"], table["code"], strict=True)]
    return table
