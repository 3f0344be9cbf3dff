"""One display layer: a frame as a reader sees it.

Headings come from one table of labels, `data/display_labels.csv` (column, label with its unit, kind, decimals;
a `*` in a column matches per-company columns such as `car_pct_深南电路`, and `{}` in the label takes what it
matched). Each kind has one formatter: signed percent, basis points, multiples, token counts, money, p-values,
dates, with a missing value shown as "–". Only the display changes: CSVs and summary.json keep raw columns.

A table longer than `PAGE_ROWS` is interactive (sortable, searchable, paged, downloadable) through DataTables,
as bundled offline by the `itables` package: in JupyterLab by its own output, in exported HTML by the export
template, which reads the table's data from a JSON output (`MIME`), never from notebook markup.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd

from tokenwatch.curated import read_curated
from tokenwatch.errors import DataValidationError
from tokenwatch.paths import data_dir, data_file

LABELS_NAME = "display_labels.csv"
MIME = "application/vnd.tokenwatch.table+json"
PAGE_ROWS = 25
MISSING = "–"
SHORT_TEXT = 90  # a longer text cell shows its start, the whole text as its tooltip

# ---------------------------------------------------------------------------------------------------------------
# Formatters, one per kind. Each takes a value and the decimals, returns text; a missing value is MISSING.


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, str):
        return value.strip() == ""
    return False


def _number(value: Any) -> float | None:
    """`value` as a float, or None when it is not a number (text passes through the formatters unchanged)."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return None


def _each(value: Any, render: Callable[[float], str]) -> str:
    """`render` a number; "–" for a missing value; text passes through unchanged."""
    x = _number(value)
    return MISSING if is_missing(value) else str(value) if x is None else render(x)


def _fixed(value: float, decimals: int, signed: bool = False) -> str:
    """`value` to `decimals` places with thousands separators; no "-0.0" and no "+0.0"."""
    rounded = round(value, decimals)
    if rounded == 0:
        rounded = 0.0
        signed = False
    return f"{rounded:{'+' if signed else ''},.{decimals}f}"


_SCALES = ((1e12, "trn"), (1e9, "bn"), (1e6, "m"))


def _scaled(value: float, decimals: int) -> str:
    """A large number in words: 6.59e13 -> "65.9 trn", 1.2e9 -> "1.2 bn", 350e6 -> "350.0 m"; below a
    million with thousands separators."""
    for size, word in _SCALES:
        if abs(value) >= size * 0.9995:
            return f"{_fixed(value / size, decimals)} {word}"
    return _fixed(value, 0)


def fmt_percent(value: Any, decimals: int = 1) -> str:
    """A change in percent (the value is already in percent): "+4.3%"."""
    return _each(value, lambda x: f"{_fixed(x, decimals, True)}%")


def fmt_level(value: Any, decimals: int = 1) -> str:
    """A level in percent, unsigned (the value is already in percent): "80.0%"."""
    return _each(value, lambda x: f"{_fixed(x, decimals)}%")


def fmt_share(value: Any, decimals: int = 0) -> str:
    """A fraction shown in percent: 0.8 -> "80%"."""
    return _each(value, lambda x: f"{_fixed(x * 100, decimals)}%")


def fmt_pp(value: Any, decimals: int = 2) -> str:
    """Percentage points, signed: "+1.25 pp"."""
    return _each(value, lambda x: f"{_fixed(x, decimals, True)} pp")


def fmt_bp(value: Any, decimals: int = 1) -> str:
    """Basis points, signed: "+12.5 bp"."""
    return _each(value, lambda x: f"{_fixed(x, decimals, True)} bp")


def fmt_multiple(value: Any, decimals: int = 1) -> str:
    """A multiple: "x2.4"."""
    return _each(value, lambda x: f"x{_fixed(x, decimals)}")


def fmt_tokens(value: Any, decimals: int = 1) -> str:
    """A token count in words: "65.9 trn", "1.2 bn"; the unit (tokens, a day) is in the heading."""
    return _each(value, lambda x: _scaled(x, decimals))


def fmt_money(value: Any, decimals: int = 1, currency: str = "CNY") -> str:
    """Money with its currency: "CNY 12.3 bn", "USD 25,000"."""
    return _each(value, lambda x: f"{currency} {_scaled(x, decimals)}")


def fmt_flops(value: Any, decimals: int = 1) -> str:
    """Compute a second: "12.3 EFLOP/s", "450.0 PFLOP/s", "8.0 TFLOP/s"."""
    x = _number(value)
    if is_missing(value) or x is None:
        return MISSING if is_missing(value) else str(value)
    for size, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T")):
        if abs(x) >= size * 0.9995:
            return f"{_fixed(x / size, decimals)} {prefix}FLOP/s"
    return f"{_fixed(x, 0)} FLOP/s"


def fmt_pvalue(value: Any, decimals: int = 3) -> str:
    """A p-value: "0.057", or "< 0.001" below the last decimal shown."""
    x = _number(value)
    if is_missing(value) or x is None:
        return MISSING if is_missing(value) else str(value)
    floor = 10.0 ** -decimals
    return f"< {floor:.{decimals}f}" if x < floor else f"{x:.{decimals}f}"


def fmt_number(value: Any, decimals: int = 2) -> str:
    """A plain number with thousands separators; a large one in words ("1.2 bn"), never in e-notation."""
    x = _number(value)
    if is_missing(value) or x is None:
        return MISSING if is_missing(value) else str(value)
    return _scaled(x, 1) if abs(x) >= 1e6 else _fixed(x, decimals)


def fmt_signed(value: Any, decimals: int = 2) -> str:
    """A signed number: "+0.42", "-1.30"."""
    return _each(value, lambda x: _fixed(x, decimals, True))


def fmt_count(value: Any, decimals: int = 0) -> str:
    """A whole count with thousands separators: "12,400"."""
    return _each(value, lambda x: _fixed(x, 0))


def _timestamp(value: Any) -> pd.Timestamp | None:
    if isinstance(value, pd.Timestamp | datetime | date | np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?", value.strip()):
        return pd.Timestamp(value.strip())
    return None


def fmt_date(value: Any, decimals: int = 0) -> str:
    """A date without its time: "2025-06-30"."""
    ts = None if is_missing(value) else _timestamp(value)
    return MISSING if is_missing(value) else str(value) if ts is None else ts.strftime("%Y-%m-%d")


def fmt_month(value: Any, decimals: int = 0) -> str:
    """A month: "2027-03"."""
    ts = None if is_missing(value) else _timestamp(value)
    return MISSING if is_missing(value) else str(value) if ts is None else ts.strftime("%Y-%m")


def fmt_text(value: Any, decimals: int = 0) -> str:
    """Text as it is; a number in it never in e-notation; yes/no for a flag."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return fmt_number(value, 0 if float(value).is_integer() else 2)
    if isinstance(value, pd.Timestamp | datetime):
        return fmt_date(value)
    return str(value)


def fmt_link(value: Any, decimals: int = 0) -> str:
    """A web address shown by its host (the page makes it a link)."""
    if is_missing(value):
        return MISSING
    text = html.unescape(str(value))
    host = re.match(r"https?://([^/?#]+)", text)
    return host.group(1) if host else text


Formatter = Callable[..., str]
FORMATTERS: dict[str, Formatter] = {
    "text": fmt_text, "name": fmt_text, "code": fmt_text, "link": fmt_link,
    "percent": fmt_percent, "level": fmt_level, "share": fmt_share, "pp": fmt_pp, "bp": fmt_bp,
    "multiple": fmt_multiple, "tokens": fmt_tokens, "cny": lambda v, d=1: fmt_money(v, d, "CNY"),
    "usd": lambda v, d=1: fmt_money(v, d, "USD"), "pvalue": fmt_pvalue, "number": fmt_number,
    "signed": fmt_signed, "count": fmt_count, "date": fmt_date, "month": fmt_month, "flops": fmt_flops,
}
DEFAULT_DECIMALS = {"percent": 1, "level": 1, "share": 0, "pp": 2, "bp": 1, "multiple": 1, "tokens": 1, "cny": 1,
                    "usd": 1, "pvalue": 3, "number": 2, "signed": 2, "count": 0, "flops": 1}
NUMERIC_KINDS = {k for k in FORMATTERS if k not in {"text", "name", "code", "link", "date", "month"}}


# ---------------------------------------------------------------------------------------------------------------
# Labels


@dataclasses.dataclass(frozen=True)
class Label:
    label: str
    kind: str
    decimals: int

    def format(self, value: Any) -> str:
        return FORMATTERS[self.kind](value, self.decimals)


@lru_cache(maxsize=1)
def label_table() -> tuple[dict[str, Label], tuple[tuple[re.Pattern[str], Label], ...]]:
    """The label table: exact columns, then `*` patterns in file order."""
    raw = read_curated(data_dir() / LABELS_NAME, ["column", "label", "kind", "decimals"], "the display label table")
    where = data_file(LABELS_NAME)
    exact: dict[str, Label] = {}
    patterns: list[tuple[re.Pattern[str], Label]] = []
    for i, row in enumerate(raw.itertuples(index=False), start=2):
        if row.kind not in FORMATTERS:
            raise DataValidationError(f"{where} line {i}: kind {row.kind!r} is not one of {sorted(FORMATTERS)}")
        if row.column in exact:
            raise DataValidationError(f"{where} line {i}: column {row.column!r} is labelled twice")
        decimals = int(row.decimals) if row.decimals.strip() else DEFAULT_DECIMALS.get(row.kind, 0)
        label = Label(row.label, row.kind, decimals)
        if "*" in row.column:
            patterns.append((re.compile("^" + re.escape(row.column).replace(r"\*", "(.+)") + "$"), label))
        else:
            exact[row.column] = label
    return exact, tuple(patterns)


def humanize(column: Any) -> str:
    """An unlabelled column's name as words: "tokens_per_day" -> "Tokens per day"."""
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _inferred(values: pd.Series) -> tuple[str, int]:
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date", 0
    if pd.api.types.is_bool_dtype(values):
        return "text", 0
    if pd.api.types.is_integer_dtype(values):
        return "count", 0
    if pd.api.types.is_float_dtype(values):
        finite = values[np.isfinite(values)]
        return ("count", 0) if len(finite) and (finite == finite.round()).all() else ("number", 2)
    return "text", 0


def label_for(column: Any, values: pd.Series | None = None) -> tuple[Label, bool]:
    """The label of `column` and whether the label table has it (else its words and a kind from its values)."""
    exact, patterns = label_table()
    name = str(column)
    if name in exact:
        return exact[name], True
    for pattern, label in patterns:
        found = pattern.match(name)
        if found:
            return dataclasses.replace(label, label=label.label.replace("{}", found.group(1).replace("_", " "))), True
    kind, decimals = _inferred(values) if values is not None else ("text", 0)
    is_identifier = re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+|[a-z]+", name) is not None
    return Label(humanize(name) if is_identifier else name, kind, decimals), False


# ---------------------------------------------------------------------------------------------------------------
# A frame formatted for display


@dataclasses.dataclass(frozen=True)
class Column:
    name: str  # the raw column, as in the CSV
    label: str
    kind: str


@dataclasses.dataclass
class DisplayTable:
    """A frame as a reader sees it: labelled columns, formatted cells, and the raw values kept for sorting
    and download. Renders itself in notebooks (`_repr_mimebundle_`)."""

    columns: list[Column]
    cells: list[list[str]]
    raw: list[list[Any]]
    caption: str = ""

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def interactive(self) -> bool:
        return len(self.cells) > PAGE_ROWS

    def payload(self) -> dict[str, Any]:
        """The table as JSON-ready data: what the export template renders from."""
        return {"caption": self.caption,
                "columns": [{"name": c.name, "label": c.label, "kind": c.kind,
                             "num": c.kind in NUMERIC_KINDS} for c in self.columns],
                "rows": [[[d, r] for d, r in zip(cells, raw, strict=True)]
                         for cells, raw in zip(self.cells, self.raw, strict=True)]}

    def to_html(self) -> str:
        """Static HTML, every cell escaped; a long table shows its first rows and carries all as JSON."""
        return table_html(self.payload())

    def _repr_html_(self) -> str:
        """In a notebook: no print copy (a report renders its tables from the JSON output, print copy included;
        the copy made a long table's output twice as heavy for every step after the kernel)."""
        return (table_html(self.payload(), print_copy=False)
                + (page_script(inline_library=_first_in_kernel()) if self.interactive else ""))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/html": self._repr_html_(), "text/plain": self.to_text()}
        if self.interactive:
            bundle[MIME] = self.payload()
        return bundle

    def to_text(self) -> str:
        """The table as plain text (what a console shows); a long table's first PAGE_ROWS rows and how many there
        are, as its static HTML shows them (every row is in its HTML and JSON, and in the run's CSV)."""
        shown = self.cells[:PAGE_ROWS] if self.interactive else self.cells
        text = pd.DataFrame(shown, columns=[c.label for c in self.columns]).to_string(index=False)
        return text + (f"\n... the first {PAGE_ROWS} of {len(self.cells)} rows" if self.interactive else "")

    def to_frame(self) -> pd.DataFrame:
        """The formatted cells under their labels."""
        return pd.DataFrame(self.cells, columns=[c.label for c in self.columns])


_FIRST = {"done": False}


def _first_in_kernel() -> bool:
    """True once per process: the first interactive table of a notebook carries the library, the others wait."""
    first = not _FIRST["done"]
    _FIRST["done"] = True
    return first


def _raw(value: Any) -> Any:
    """A cell's raw value as JSON: numbers in full precision, dates as ISO text, missing as None."""
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, pd.Timestamp | datetime | date):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat()
    return str(value)


def _names_first(columns: list[Column]) -> list[Column]:
    """Names before codes: the first name column moves in front of the first code column."""
    kinds = [c.kind for c in columns]
    if "name" in kinds and "code" in kinds and kinds.index("name") > kinds.index("code"):
        name = columns[kinds.index("name")]
        rest = [c for c in columns if c is not name]
        rest.insert(kinds.index("code"), name)
        return rest
    return columns


def display_table(frame: pd.DataFrame, caption: str | None = None, *, index: bool = False,
                  fmt: str | None = None, na: str = MISSING) -> DisplayTable:
    """`frame` for a reader: columns labelled from the label table, cells formatted by kind, names before
    codes. `index=True` shows the index as leading columns; `fmt` (a format string such as "{:+.1f}", or a
    kind) formats the numeric cells of columns the label table does not name, such as phases of a pivot."""
    if index:
        frame = frame.reset_index()
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.set_axis([" ".join(str(p) for p in c if str(p)) for c in frame.columns], axis=1)
    frame, caption = long_form(frame, caption)
    frame = with_names(frame)
    columns: list[Column] = []
    formatters: dict[str, Callable[[Any], str]] = {}
    for col in frame.columns:
        label, known = label_for(col, frame[col])
        name = str(col)
        if not known and fmt and label.kind in NUMERIC_KINDS:
            if fmt in FORMATTERS:
                label = Label(label.label, fmt, DEFAULT_DECIMALS.get(fmt, 0))
            else:
                formatters[name] = _format_string(fmt)
        formatters.setdefault(name, label.format)
        columns.append(Column(name, label.label, label.kind))
    columns = _names_first(columns)
    positions = {str(c): i for i, c in enumerate(frame.columns)}
    order = [positions[c.name] for c in columns]
    values = frame.to_numpy(dtype=object)
    cells: list[list[str]] = []
    raw: list[list[Any]] = []
    for row in values:
        cells.append([na if is_missing(row[i]) else formatters[c.name](row[i]) for i, c in zip(order, columns,
                                                                                              strict=True)])
        raw.append([_raw(row[i]) for i in order])
    return DisplayTable(columns, cells, raw, caption or "")


def with_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Names before codes: a frame with a `symbol`, `code` or `subject` column of codes and no `name` column gets
    one from the universe, just before the codes; a code the universe does not list shows as missing. A frame
    whose column holds no listed code (names already, segments) passes unchanged."""
    from tokenwatch.errors import TokenwatchError
    from tokenwatch.universe import names, parse_symbol

    codes = [c for c in frame.columns if str(c) in ("symbol", "code", "subject")]
    if not codes or "name" in frame.columns:
        return frame

    def name_of(value: Any) -> Any:
        try:
            symbol = parse_symbol(str(value))
        except (TokenwatchError, ValueError):
            return None
        found = names([symbol])[symbol]
        return None if found == symbol.code else found

    found = frame[codes[0]].map(name_of)
    if found.isna().all():
        return frame
    out = frame.copy()
    out.insert(list(frame.columns).index(codes[0]), "name", found)
    return out


WIDE = 6  # this many columns of one per-subject pattern (car_pct_*) make a table wide: it is shown long


def long_form(frame: pd.DataFrame, caption: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """A wide table, one column per subject (`car_pct_深南电路`, `car_pct_寒武纪`, ...), as a long one: a
    `subject` column and one value column (`car_pct`), a row per row and subject with a value; the caption
    says how many empty pairs are left out. Other frames pass unchanged."""
    _, patterns = label_table()
    for pattern, _label in patterns:
        prefix = pattern.pattern[1:].split("(.+)")[0]
        if not prefix.endswith("_") or not pattern.pattern.endswith("(.+)$"):
            continue  # only `name_*` patterns: the subject is the tail of the column
        wide = [c for c in frame.columns if pattern.match(str(c))]
        if len(wide) < WIDE:
            continue
        value = prefix.rstrip("_").replace("\\", "")
        keep = [c for c in frame.columns if c not in wide]
        long = frame.melt(id_vars=keep, value_vars=wide, var_name="subject", value_name=value)
        long["subject"] = long["subject"].str.slice(len(value) + 1)
        empty = long[value].isna()
        long = long.loc[~empty].reset_index(drop=True)
        note = f"{len(wide)} subjects as rows; {int(empty.sum())} pairs without a value left out"
        return long, f"{caption} ({note})" if caption else note
    return frame, caption


def _format_string(fmt: str) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        x = _number(value)
        return fmt_text(value) if x is None else fmt.format(x)
    return apply


# ---------------------------------------------------------------------------------------------------------------
# HTML: a static table (escaped), and for a long table its data as escaped JSON for the page's script


def json_for_script(data: Any) -> str:
    """JSON safe inside a <script type="application/json"> block: <, > and & escaped as \\u escapes."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _cell_html(text: str, raw: Any, kind: str) -> str:
    if kind == "link" and isinstance(raw, str) and re.match(r"https?://", raw):
        url = html.escape(raw, quote=True)
        return f'<a href="{url}" title="{url}">{html.escape(text)}</a>'
    if len(text) > SHORT_TEXT:  # the start, and the whole text as its tooltip
        return f'<span title="{html.escape(text, quote=True)}">{html.escape(text[:SHORT_TEXT - 1])}…</span>'
    return html.escape(text)


def _checked(payload: Any) -> tuple[list[dict[str, Any]], list[list[list[Any]]], str]:
    """The parts of a table payload, refusing anything not shaped like one (the template renders only this)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("columns"), list) \
            or not isinstance(payload.get("rows"), list):
        raise ValueError("not a tokenwatch table")
    columns = [{"name": str(c.get("name", "")), "label": str(c.get("label", "")), "kind": str(c.get("kind", "")),
                "num": bool(c.get("num"))} for c in payload["columns"] if isinstance(c, dict)]
    rows = [[[str(cell[0]), cell[1]] if isinstance(cell, list) and len(cell) == 2 else [str(cell), None]
             for cell in row] for row in payload["rows"] if isinstance(row, list)]
    return columns, rows, str(payload.get("caption") or "")


_NUM = ' class="num"'


def _cell_class(column: dict[str, Any]) -> str:
    """Numbers right-aligned, dates kept on one line."""
    return _NUM if column["num"] else ' class="date"' if column["kind"] in ("date", "month") else ""


def _rows_html(columns: list[dict[str, Any]], rows: Iterable[list[list[Any]]]) -> str:
    out = []
    for row in rows:
        tds = "".join(f"<td{_cell_class(c)}>{_cell_html(str(cell[0]), cell[1], c['kind'])}</td>"
                      for c, cell in zip(columns, row, strict=False))
        out.append(f"<tr>{tds}</tr>")
    return "".join(out)


def table_html(payload: Any, print_copy: bool = True) -> str:
    """A table payload as HTML. Up to PAGE_ROWS rows: a plain table. Longer: its first PAGE_ROWS rows (what a
    page without scripts shows), a note, every row as escaped JSON for the page's table script, and, with
    `print_copy`, every row as a table shown only in print (so a PDF holds the whole table)."""
    columns, rows, caption = _checked(payload)
    head = "".join(f'<th title="{html.escape(c["name"], quote=True)}"{_NUM if c["num"] else ""}>'
                   f'{html.escape(c["label"])}</th>' for c in columns)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    def table(shown: list[list[list[Any]]]) -> str:
        return (f'<table class="tw-table">{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{_rows_html(columns, shown)}</tbody></table>")

    if len(rows) <= PAGE_ROWS:
        return f'<div class="tw-static"><style>{TABLE_CSS}</style>{table(rows)}</div>'
    data = json_for_script({"caption": caption, "columns": columns, "rows": rows})
    return (f'<div class="tw-long" data-rows="{len(rows)}"><style>{TABLE_CSS}</style>'
            + (f'<div class="tw-print">{table(rows)}</div>' if print_copy else "")
            + f'<div class="tw-preview">{table(rows[:PAGE_ROWS])}'
            f"<p><small>The first {PAGE_ROWS} of {len(rows)} rows; with scripts on, the table is sortable, "
            f"searchable and paged, with every row downloadable as CSV.</small></p></div>"
            f'<script type="application/json" class="tw-data">{data}</script></div>')


def _script_text(text: str) -> str:
    """Script text safe inside <script>: no "</" that could end it early."""
    return text.replace("</", "<\\/")


@lru_cache(maxsize=1)
def _library() -> tuple[str, str]:
    """DataTables as bundled by itables for offline use: (JavaScript module, CSS)."""
    folder = files("itables") / "html"
    return (folder / "dt_bundle.js").read_text(encoding="utf-8"), (folder / "dt_bundle.css").read_text(
        encoding="utf-8")


def page_script(inline_library: bool = True) -> str:
    """The trusted script that makes every long table interactive: DataTables (inline, loaded as a module from
    a blob, as itables does offline) and tokenwatch's table code. Nothing is fetched from another host."""
    own = (files("tokenwatch") / "display_table.js").read_text(encoding="utf-8")
    if "</" in own:  # it would end its <script> early; the script is written without it
        raise ValueError("display_table.js must not contain '</'")
    loader = ""
    if inline_library:
        js, css = _library()
        loader = (f"<style>{_script_text(css)}</style>"
                  f'<script>window.tokenwatchLibrary = window.tokenwatchLibrary || (function () {{'
                  f'const text = atob("{base64.b64encode(js.encode()).decode()}");'
                  f"const bytes = Uint8Array.from(text, c => c.charCodeAt(0));"
                  f'const url = URL.createObjectURL(new Blob([bytes], {{type: "application/javascript"}}));'
                  f"return import(url).finally(() => URL.revokeObjectURL(url)); }})();</script>")
    return f"{loader}<style>{TABLE_CSS}</style><script>{own}</script>"


TABLE_CSS = (  # `.tw-table.tw-table` outranks JupyterLab's right-aligned `:not(...).jp-RenderedHTMLCommon td`
    ".tw-table{border-collapse:collapse;font-size:13px;margin:.3em 0}"
    ".tw-table.tw-table th,.tw-table.tw-table td{padding:.25em .6em;border-bottom:1px solid #e5e5e5;"
    "text-align:left;overflow-wrap:break-word}"
    ".tw-table.tw-table th{border-bottom:2px solid #999;vertical-align:bottom}"
    ".tw-table.tw-table .num{text-align:right;font-variant-numeric:tabular-nums}"
    ".tw-table.tw-table td.num{white-space:nowrap}"
    ".tw-table.tw-table .date{white-space:nowrap}"
    ".tw-table caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}"
    ".tw-print{display:none}@media print{.tw-print{display:block}.tw-live,.tw-preview{display:none}}"
    ".tw-download{font-size:12px;margin:.3em 0}")
