"""The contract every notebook keeps: `Params` -> `build(params, source)` -> `Report`.

- `Params`: a frozen dataclass made in one call from the notebook's parameter cell
  (`Params.from_namespace(globals())`). Each field names its parser in its metadata, so every
  value is checked once, first, with a message a user can act on.
- `Report`: named `tables()` (written as CSV), `findings` (computed sentences with their numbers),
  `summary()` with its `headline` and `sources`, `notices`, and `write(out)`.
- Notices are `TokenwatchNotice` warnings raised where they arise and collected by `collect_notices`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import pandas as pd

from tokenwatch.artifacts import atomic_write_text, write_summary, write_table
from tokenwatch.display import MISSING, DisplayTable, display_table
from tokenwatch.errors import ParameterError, TokenwatchNotice

Parser = Callable[[str, Any], Any]


def parsed(parse: Parser | None = None, **kwargs: Any) -> Any:
    """A Params field whose raw notebook value goes through `parse(name, value)`."""
    return dataclasses.field(metadata={"parse": parse}, **kwargs)


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of every notebook's parameters; subclasses declare fields with `parsed(...)`."""

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> Self:
        """The notebook's parameter values (its globals), parsed and checked once."""
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in namespace:
                raise ParameterError(f"parameter {f.name} is not set; keep it in the notebook's parameters cell")
            parse = f.metadata.get("parse")
            values[f.name] = parse(f.name, namespace[f.name]) if parse else namespace[f.name]
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def notice(message: str) -> None:
    """Record something a reader must know; the report being built collects it."""
    warnings.warn(TokenwatchNotice(message), stacklevel=2)


@contextlib.contextmanager
def collect_notices() -> Iterator[list[str]]:
    """Collect every TokenwatchNotice raised inside, in order; other warnings pass on."""
    found: list[str] = []
    held: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TokenwatchNotice)
            try:
                yield found
            finally:
                held = list(caught)
    finally:  # outside the recording context: other warnings go on to the caller's filters
        for w in held:
            if issubclass(w.category, TokenwatchNotice):
                found.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def live_alert(notices: list[str]) -> str | None:
    """One findings line when `--live` could not fetch (no network, upstream down): which symbols, and that the
    numbers come from the cache or snapshot instead. None when every live fetch worked or none was asked for."""
    failed = list(dict.fromkeys(n.split(": ", 1)[0] for n in notices if " failed (" in n and "live fetch of " in n))
    if not failed:
        return None
    shown = ", ".join(failed[:4]) + (f" and {len(failed) - 4} more" if len(failed) > 4 else "")
    return (f"Live data unavailable: the live fetch failed for {len(failed)} symbol(s) ({shown}), so their prices "
            "come from the local cache or the offline snapshot, up to its last date (see the notices).")


class Report:
    """What `build` returns. Subclasses give `run_name`, `tables()`, `summary()` and `findings`."""

    run_name: ClassVar[str]
    notices: list[str]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The run's tables by file name (without .csv), in the columns they are written with."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def findings(self) -> list[str]:
        """A few computed sentences, each with its number: what the run found."""
        raise NotImplementedError

    @property
    def headline(self) -> dict[str, Any]:
        return dict(self.summary().get("headline") or {})

    @property
    def sources(self) -> list[dict[str, Any]]:
        return list(self.summary().get("sources") or [])

    def _findings_shown(self) -> list[str]:
        """The findings, after a line saying so when live data was asked for and could not be fetched."""
        alert = live_alert(list(getattr(self, "notices", None) or []))
        return ([alert] if alert else []) + list(self.findings)

    def write(self, out: Path | str) -> list[str]:
        """Every table as CSV, summary.json and findings.md into `out`; the names of its files."""
        out = Path(out)
        for name, frame in self.tables().items():
            write_table(frame, out, name)
        summary = self.summary()
        if getattr(self, "notices", None) and "notices" not in summary:  # the report's header lists them
            summary["notices"] = list(self.notices)
        write_summary(out, summary)
        atomic_write_text(out / "findings.md", "".join(f"- {line}\n" for line in self._findings_shown()))
        return sorted(p.name for p in out.iterdir())

    def show(self, frame: pd.DataFrame, caption: str | None = None, fmt: str | None = None, index: bool = False,
             na: str = MISSING) -> DisplayTable:
        """`frame` as a reader sees it, through the display layer: headings from data/display_labels.csv,
        cells formatted by kind, names before codes, escaped; interactive when longer than 25 rows. `fmt` (a
        format string or a kind) formats numeric columns the label table does not name; `na` shows a missing
        value."""
        return display_table(frame, caption, index=index, fmt=fmt, na=na)

    def _repr_html_(self) -> str:
        """The key findings as a block: what a notebook shows first."""
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self._findings_shown())
        return ('<div class="tokenwatch-findings" style="border-left:4px solid #c0392b;padding:.4em 1em;'
                f'background:#fdf2f0"><b>Key findings</b><ul style="margin:.3em 0">{items}</ul></div>')

