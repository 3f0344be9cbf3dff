"""Fetching on purpose: polite, bounded in time, retried, falling back, and incremental into the cache.

- Polite: a pause between calls and a cap per minute (Eastmoney blocks addresses that pull too much).
- Bounded: every call has a timeout, also for akshare functions that take none (the socket default
  timeout is set for the call, and the call runs in a daemon thread that is abandoned at the deadline).
- Retried: network errors and timeouts are retried with exponential backoff and jitter; an upstream
  schema change is not retried but reported with the akshare version.
- Falling back: when a source fails for a symbol, the next one in its chain is tried (an upstream that
  stayed unreachable through its retries is skipped for the rest of the run); when all fail, a
  cached copy is kept with a warning stating its age; with no cache, the error names the symbol, the
  sources tried and what each said.
- Incremental: a second fetch asks each source only for the days after what it already cached.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from tokenwatch.errors import DataNotFoundError, FetchTimeout
from tokenwatch.market.akshare_adapters import (
    ADAPTERS,
    AKSHARE_VERSION,
    FACTOR_FUNCTIONS,
    US_CODE_LOOKUP,
    UpstreamSchemaError,
    chain,
    factor_steps,
)
from tokenwatch.market.cache import Cache, CacheCorruptError
from tokenwatch.market.validate import validate_daily
from tokenwatch.universe import Symbol

DOWN_ENV = "TOKENWATCH_DOWN_FILE"




@dataclass(frozen=True)
class Policy:
    timeout: float = 20.0  # seconds per call
    retries: int = 2  # extra attempts after a network failure
    backoff: float = 2.0  # seconds before the first retry, doubled each time
    jitter: float = 0.5  # +- this share of each wait, at random
    pause: float = 1.0  # seconds between any two calls
    per_minute: int = 30  # calls in any 60 seconds


class Throttle:
    """Enforces the pause between calls and the cap per minute."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy, self.clock, self.sleep = policy, clock, sleep
        self.calls: deque[float] = deque()

    def wait(self) -> None:
        now = self.clock()
        if self.calls and now - self.calls[-1] < self.policy.pause:
            self.sleep(self.policy.pause - (now - self.calls[-1]))
            now = self.clock()
        while self.calls and now - self.calls[0] >= 60:
            self.calls.popleft()
        if len(self.calls) >= self.policy.per_minute:
            self.sleep(60 - (now - self.calls[0]))
            now = self.clock()
            self.calls.popleft()
        self.calls.append(now)


def call_with_timeout(fn: Callable[..., Any], kwargs: dict, timeout: float) -> Any:
    """Run fn(**kwargs) with a deadline; FetchTimeout when it passes (the thread is left to die)."""
    box: dict[str, Any] = {}

    def target() -> None:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)  # requests without a timeout fall back to this
        try:
            box["value"] = fn(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc
        finally:
            socket.setdefaulttimeout(previous)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise FetchTimeout(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def classify(exc: BaseException) -> tuple[str, bool]:
    """(what went wrong, worth retrying)."""
    text = str(exc)
    if isinstance(exc, UpstreamSchemaError) or "Length mismatch" in text:
        return f"upstream schema changed (akshare {AKSHARE_VERSION}): {text}", False
    if isinstance(exc, FetchTimeout):
        return f"timed out: {text}", True
    if isinstance(exc, ConnectionError | OSError | TimeoutError) or type(exc).__module__.startswith(
            ("requests", "urllib3")):
        return f"network: {_network_reason(exc)}", True
    if isinstance(exc, ValueError) and "Expecting value" in text:  # an HTML block page instead of JSON
        return f"blocked or not JSON ({type(exc).__name__}: {text[:120]})", True
    if isinstance(exc, KeyError | IndexError | TypeError | ValueError | AttributeError):
        return f"unexpected response (akshare {AKSHARE_VERSION}): {type(exc).__name__}: {text[:200]}", False
    return f"{type(exc).__name__}: {text[:200]}", False


def _network_reason(exc: BaseException) -> str:
    """A one-line reason for a network failure: the host and what happened, without the URL."""
    text = str(exc)
    host = re.search(r"host='([^']+)'", text)
    causes = {"NameResolution": "its name does not resolve", "Failed to resolve": "its name does not resolve",
              "ConnectTimeout": "the connection timed out", "Read timed out": "the answer timed out",
              "Connection refused": "the connection was refused", "Connection reset": "the connection was reset",
              "RemoteDisconnected": "the server closed the connection", "Network is unreachable":
              "the network is unreachable", "No route to host": "there is no route to it"}
    cause = next((v for k, v in causes.items() if k in text), text[:120])
    return f"{type(exc).__name__} reaching {host.group(1) if host else 'the host'}: {cause}"


FetchStatus = Literal["fetched", "up to date", "stale cache", "failed"]


@dataclass
class FetchResult:
    symbol: Symbol
    status: FetchStatus
    source: str = ""
    rows_added: int = 0
    message: str = ""
    attempts: list[str] = field(default_factory=list)


def _ymd(day: pd.Timestamp) -> str:
    return day.strftime("%Y%m%d")


class Fetcher:
    """Fetches daily bars and factors through akshare into the cache."""

    def __init__(self, cache: Cache | None = None, policy: Policy | None = None, ak: Any = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.cache = cache or Cache()
        self.policy = policy or Policy()
        self._ak = ak
        self.sleep = sleep
        self.throttle = Throttle(self.policy, clock, sleep)
        self.rng = rng or random.Random()
        # upstreams unreachable earlier in this run, skipped from then on; shared through a file by every
        # kernel of one `tokenwatch run` (TOKENWATCH_DOWN_FILE), so each notebook does not wait again
        self.down_file = os.environ.get(DOWN_ENV, "").strip() or None
        self._down: dict[str, str] = {}
        self._em_us_codes: dict[str, str] | None = None

    @property
    def down(self) -> dict[str, str]:
        """Upstream -> why it was found unreachable (this process, and others of the same run)."""
        if self.down_file:
            with contextlib.suppress(OSError):
                for line in Path(self.down_file).read_text(encoding="utf-8").splitlines():
                    with contextlib.suppress(ValueError):
                        self._down.setdefault(*json.loads(line))
        return self._down

    def mark_down(self, upstream: str, reason: str) -> None:
        self._down[upstream] = reason
        if self.down_file:
            with contextlib.suppress(OSError), open(self.down_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps([upstream, reason], ensure_ascii=False) + "\n")

    @property
    def ak(self) -> Any:
        if self._ak is None:
            import akshare  # imported on first use: it is slow and only the live path needs it

            self._ak = akshare
        return self._ak

    def call(self, function: str, kwargs: dict) -> Any:
        """One akshare call with the throttle, a timeout and retries on network failures."""
        fn = getattr(self.ak, function)
        attempt = 0
        while True:
            self.throttle.wait()
            try:
                return call_with_timeout(fn, kwargs, self.policy.timeout)
            except Exception as exc:
                _, retry = classify(exc)
                if not retry or attempt >= self.policy.retries:
                    raise
                wait = self.policy.backoff * 2**attempt
                self.sleep(wait * (1 + self.rng.uniform(-self.policy.jitter, self.policy.jitter)))
                attempt += 1

    def em_us_code(self, ticker: str) -> str:
        """Eastmoney's code for a US ticker ("105.NVDA"), from its code table (fetched once a run)."""
        if self._em_us_codes is None:
            table = self.call(US_CODE_LOOKUP, {})
            if "代码" not in table.columns:
                raise UpstreamSchemaError(f"akshare {US_CODE_LOOKUP}: no column 代码 in {list(table.columns)} "
                                          f"(akshare {AKSHARE_VERSION})")
            codes = table["代码"].astype(str)
            self._em_us_codes = dict(zip(codes.str.split(".").str[-1].str.upper(), codes, strict=True))
        if ticker not in self._em_us_codes:
            raise DataNotFoundError(f"{ticker} is not in Eastmoney's US code table ({US_CODE_LOOKUP})")
        return self._em_us_codes[ticker]

    def daily(self, symbol: Symbol, start: pd.Timestamp, end: pd.Timestamp) -> FetchResult:
        """Fetch what the cache lacks of [start, end] for one symbol, trying its sources in order."""
        attempts: list[str] = []
        with self.cache.lock("daily", symbol):
            for name in chain(symbol):
                adapter = ADAPTERS[name]
                if adapter.upstream in self.down:
                    attempts.append(f"{adapter.describe()}: skipped, {adapter.upstream} was unreachable earlier in "
                                    f"this run ({self.down[adapter.upstream]})")
                    continue
                try:
                    old, _ = self.cache.read("daily", symbol, name)
                except DataNotFoundError:
                    old = None
                except CacheCorruptError as exc:
                    attempts.append(f"{name}: {exc}")
                    old = None
                ask_from = start if old is None or old.empty else max(start, old.index[-1] + pd.Timedelta(days=1))
                if old is not None and not old.empty and ask_from > end:
                    return FetchResult(symbol, "up to date", name, 0, f"cached through {old.index[-1].date()}")
                try:
                    kwargs = adapter.kwargs(symbol, _ymd(ask_from), _ymd(end))
                    if name == "em_us_hist":
                        kwargs["symbol"] = self.em_us_code(symbol.code)
                    raw = self.call(adapter.function, kwargs)
                    new = adapter.tidy(raw, symbol)
                except Exception as exc:  # noqa: BLE001 - every failure is recorded and the next source tried
                    reason, network = classify(exc)
                    attempts.append(f"{adapter.describe()}: {reason}")
                    if network:  # retried already: do not spend the same wait on every later symbol
                        self.mark_down(adapter.upstream, reason)
                    continue
                new = new.loc[ask_from:end]
                if new.empty and (old is None or old.empty):
                    attempts.append(f"{adapter.describe()}: returned no rows for {ask_from.date()}..{end.date()}")
                    continue
                merged = new if old is None else pd.concat([old[~old.index.isin(new.index)], new]).sort_index()
                validate_daily(merged, f"{symbol} from {adapter.describe()}")
                self.cache.write("daily", symbol, name, merged, upstream=adapter.describe(),
                                 price_basis=adapter.price_basis, akshare_version=AKSHARE_VERSION)
                return FetchResult(symbol, "fetched", name, len(new), f"{len(new)} new rows", attempts)
        return self._fallback("daily", symbol, attempts)

    def factors(self, symbol: Symbol) -> FetchResult | None:
        """Refetch a symbol's adjustment factors in full (None when the symbol needs none)."""
        key = "sina_a_hfq_factor" if symbol.market == "cn" else (
            "sina_us_qfq_factor" if symbol.market == "us" and "sina_us_daily" in chain(symbol) else None)
        if key is None:
            return None
        function, upstream, kwargs = FACTOR_FUNCTIONS[key]
        if upstream in self.down:
            return self._fallback("factors", symbol, [f"akshare {function} ({upstream}): skipped, unreachable earlier "
                                                      f"in this run ({self.down[upstream]})"])
        with self.cache.lock("factors", symbol):
            try:
                raw = self.call(function, kwargs(symbol))
                frame = factor_steps(raw, symbol) if symbol.market == "cn" else _us_factor_frame(raw)
            except Exception as exc:  # noqa: BLE001
                reason, network = classify(exc)
                if network:
                    self.mark_down(upstream, reason)
                return self._fallback("factors", symbol, [f"akshare {function} ({upstream}): {reason}"])
            self.cache.write("factors", symbol, key, frame, upstream=f"akshare {function} ({upstream})",
                             price_basis="ex-rights steps" if symbol.market == "cn" else "forward-adjustment factors",
                             akshare_version=AKSHARE_VERSION)
        return FetchResult(symbol, "fetched", key, len(frame), f"{len(frame)} factor rows")

    def _fallback(self, kind: str, symbol: Symbol, attempts: list[str]) -> FetchResult:
        """Every source failed: keep the cache with a warning, or fail with what each source said."""
        for name in self.cache.sources(kind, symbol):
            try:
                _, entry = self.cache.read(kind, symbol, name)
            except (DataNotFoundError, CacheCorruptError):
                continue
            days = entry.age.total_seconds() / 86_400
            return FetchResult(symbol, "stale cache", name, 0,
                               f"every source failed; using the cached copy from {name}, fetched "
                               f"{entry.vintage:%Y-%m-%d %H:%M} UTC ({days:.1f} days old)", attempts)
        return FetchResult(symbol, "failed", "", 0, f"{kind}: nothing cached and every source failed "
                                                    f"({len(attempts)} tried)", attempts)


def _us_factor_frame(raw: pd.DataFrame) -> pd.DataFrame:
    if not {"date", "qfq_factor", "adjust"} <= set(raw.columns):
        raise UpstreamSchemaError(f"akshare stock_us_daily(adjust='qfq-factor'): expected date, qfq_factor, adjust; "
                                  f"got {list(raw.columns)} (akshare {AKSHARE_VERSION})")
    return pd.DataFrame({"date": pd.to_datetime(raw["date"].astype(str)),
                         "qfq_factor": pd.to_numeric(raw["qfq_factor"]),
                         "adjust": pd.to_numeric(raw["adjust"])}).sort_values("date").reset_index(drop=True)
