"""The `tokenwatch` command: `tokenwatch run ...`, `list`, `data ...`, `score FORECAST.csv` and
`ledger check`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tokenwatch.errors import ParameterError, TokenwatchError
from tokenwatch.paths import LIVE_ENV, PROJECT_ROOT
from tokenwatch.run import data_cli, skip_unused_imports
from tokenwatch.run.notebooks import NOTEBOOKS_DIR, discover, inspect, parse_cli_value, resolve


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give the seconds a cell may take, above 0")
    return value


def _runs_at_a_time(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of runs") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give the number of runs at a time, 1 or more (leave --jobs out "
                                         "for one run a core)")
    return value


def _run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run notebooks through papermill and export HTML with an index",
                       description="Run notebooks (by run name, e.g. weekly_tracker) and write "
                                   "DIR/index.html, DIR/runs.csv and one folder per run.")
    p.add_argument("notebooks", nargs="*", help="run names (notebooks/NN_<name>.ipynb)")
    p.add_argument("--all", action="store_true", help="every notebook in notebooks/ with its defaults")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a parameter (text parameters stay text; others are read as YAML)")
    p.add_argument("-f", "--params-file", type=Path, help="YAML file of parameters (quote codes: '002463')")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="one run per value; several --sweep make the cross product")
    p.add_argument("--jobs", type=_runs_at_a_time, default=None,
                   help="runs at a time, 1 or more: worker processes, or LocalCluster workers with --scheduler local "
                        "(default: the machine's cores)")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "latest", help="output folder")
    p.add_argument("--cell-timeout", type=_positive_seconds, default=600,
                   help="seconds a cell may take (above 0, whole seconds; default 600); a cell that takes longer "
                        "fails its run and its kernel is replaced")
    p.add_argument("--fresh-kernels", action="store_true", help="a new kernel for every run (slower)")
    p.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--help-params", action="store_true",
                   help="list each named notebook's parameters with types, defaults and help, and stop")
    p.add_argument("--scheduler", default=None, metavar="local|tcp://HOST:8786",
                   help="run on a Dask cluster: 'local' starts a LocalCluster of --jobs workers; an address joins "
                        "a running scheduler (also TOKENWATCH_SCHEDULER); default: the local process pool")
    p.add_argument("--force", action="store_true",
                   help="rerun every run, even one whose notebook, parameters, data, library and versions are "
                        "unchanged since it last succeeded (otherwise reused from the execution cache)")
    p.add_argument("--explain", action="store_true",
                   help="say for each run why it was reused from the execution cache or rerun")
    p.add_argument("--pdf", action="store_true",
                   help="also print each report and the brief to PDF (A4) with headless Chromium, offline; a "
                        "page not printed (no Chromium, a hang past TOKENWATCH_PDF_TIMEOUT s) makes the exit non-zero")
    p.add_argument("--live", action="store_true",
                   help="let notebooks fetch prices the cache lacks through akshare (sets TOKENWATCH_LIVE=1)")


def _read_params_file(path: Path) -> dict[str, Any]:
    """A `-f` YAML file of NAME: VALUE lines; a missing or malformed file is named with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenwatchError(f"-f {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenwatchError(f"-f {path}: cannot read it ({exc})") from None
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TokenwatchError(f"-f {path}{where}: not valid YAML ({problem}); write one NAME: VALUE a line, "
                              "and quote codes ('002463')") from None
    if not isinstance(loaded, dict):
        raise TokenwatchError(f"-f {path} should hold NAME: VALUE lines")
    return loaded


def _collect_params(args: argparse.Namespace, defaults: dict[str, Any]) -> tuple[dict, dict]:
    params: dict[str, Any] = {}
    if args.params_file:
        params.update(_read_params_file(args.params_file))
    for name, value in args.param:
        params[name] = parse_cli_value(value, defaults.get(name))
    sweeps: dict[str, list[Any]] = {}
    for item in args.sweep:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise TokenwatchError(f"--sweep {item!r}: write NAME=V1,V2,...")
        if name in sweeps:
            raise TokenwatchError(f"--sweep {name} is given twice; give its values once: {name}=V1,V2,...")
        sweeps[name] = [parse_cli_value(v, defaults.get(name, "")) for v in values.split(",")]
    return params, sweeps


SCHEDULER_ENV = "TOKENWATCH_SCHEDULER"


def _scheduler_address(value: str | None) -> str | None:
    """--scheduler, else TOKENWATCH_SCHEDULER, else None (the local process pool)."""
    value = value or os.environ.get(SCHEDULER_ENV, "").strip() or None
    if value and value != "local" and not value.startswith(("tcp://", "tls://")):
        raise ParameterError(f"--scheduler {value!r}: give 'local' or a scheduler address such as tcp://HOST:8786")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    from tokenwatch.run.index import IndexNotWritten
    from tokenwatch.run.pool import Terminated, check_jobs, run_all, sigterm_as_interrupt
    from tokenwatch.run.runner import plan, results_table, scan_runs

    if args.all == bool(args.notebooks):
        known = ", ".join(discover(args.notebooks_dir)) or "(none)"
        raise TokenwatchError(f"name notebooks to run or give --all (not both); known: {known}")
    paths = list(discover(args.notebooks_dir).values()) if args.all else resolve(args.notebooks, args.notebooks_dir)
    paths = [p.resolve() for p in paths]
    if not paths:
        raise TokenwatchError(f"no notebooks found in {args.notebooks_dir}")
    if args.help_params:
        print("\n\n".join(inspect(path).help_text() for path in paths))
        return 0
    defaults: dict[str, Any] = {}
    for path in paths:
        for k, v in inspect(path).parameters.items():
            defaults.setdefault(k, v)
    params, sweeps = _collect_params(args, defaults)
    if args.live:
        os.environ[LIVE_ENV] = "1"  # inherited by the kernels the runner starts
        data_cli.live_preflight()
    specs = plan(paths, params, sweeps)
    out = args.out.expanduser().resolve()  # kernels run in notebooks/: a relative path would land there
    address = _scheduler_address(args.scheduler)
    try:
        with sigterm_as_interrupt():  # `timeout`, CI and service managers send SIGTERM: stop as on Ctrl-C
            if address:
                from tokenwatch.run.distributed import run_on_cluster

                results = run_on_cluster(specs, out, address, jobs=check_jobs(args.jobs),
                                         cell_timeout=args.cell_timeout, progress=not args.no_progress,
                                         force=args.force)
            else:
                results = run_all(specs, out, jobs=args.jobs, cell_timeout=args.cell_timeout,
                                  warm=not args.fresh_kernels, progress=not args.no_progress, force=args.force)
    except IndexNotWritten as exc:  # the runs are done and shown; the index could not be rebuilt
        if exc.results:
            print(results_table(exc.results))
        raise
    except KeyboardInterrupt as exc:
        how = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
        print(f"tokenwatch: {how}; finished runs are in place, unfinished ones were discarded "
              f"(index: {out / 'index.html'})", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    print(results_table(results))
    if args.explain:
        for r in results:
            why = f"reused: {r.reason}" if r.cached else f"rerun: {r.reason or 'not known'}"
            print(f"{r.spec.folder}: " + ("refused (see above)" if r.reason == "refused" else why))
    from tokenwatch.run.history import record_state
    from tokenwatch.run.pdf import print_collection, retire_stale_pdfs

    record_state(out, scan_runs(out))  # history/<time>/summary.json: the headline figures, for the next brief's changes
    pdf_failed = False
    if args.pdf:
        printed = print_collection(out, [r.folder for r in results if r.status == "ok"], jobs=args.jobs or 2)
        for line in printed.messages:
            print(f"pdf: {line}", file=sys.stderr)
        if printed.written:
            print(f"pdf: {len(printed.written)} written (brief: {out / 'brief.pdf'})")
        pdf_failed = bool(printed.failed)
    else:  # no PDF older than its run stays beside it (nor is linked: run/brief.py checks the dates too)
        for note in retire_stale_pdfs(out):
            print(f"pdf: {note}", file=sys.stderr)
    print(f"index: {out / 'index.html'}")
    return 1 if pdf_failed or any(r.status != "ok" for r in results) else 0


def cmd_list(args: argparse.Namespace) -> int:
    """Every notebook of the collection, one line each: run name, file, title."""
    found = discover(args.notebooks_dir)
    width = max((len(n) for n in found), default=0)
    files = max((len(p.name) for p in found.values()), default=0)
    for name, path in found.items():
        print(f"{name.ljust(width)}  {path.name.ljust(files)}  {inspect(path).title}")
    print("\nrun one: tokenwatch run NAME; its parameters: tokenwatch run NAME --help-params")
    return 0


def _score_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score an earlier forecast.csv against the token ledger as it is now")
    p.add_argument("forecast", type=Path, help="a forecast.csv written by token_projection")
    p.add_argument("--out", type=Path, help="write every scored cell to this CSV as well")
    p.add_argument("--all-forecasters", action="store_true", help="every model and scenario, not the headline only")


def cmd_score(args: argparse.Namespace) -> int:
    """How an archived forecast did on every disclosure made public after its ledger vintage."""
    from tokenwatch.methods import forecast as F
    from tokenwatch.tokens import load_ledger

    if not args.forecast.is_file():
        raise TokenwatchError(f"{args.forecast} is not a file; give the forecast.csv of a token_projection run")
    table = pd.read_csv(args.forecast, keep_default_na=False, na_values={q: [""] for q in F.P.QUANTILES})
    scored = F.score_forecasts(table, load_ledger())
    if not args.all_forecasters and len(scored):
        scored = scored[(scored["model"] == F.B.ENSEMBLE) & (scored["scenario"] == F.B.ALL)]
    if args.out:
        scored.to_csv(args.out, index=False)
    if scored.empty:
        print(f"{args.forecast}: no disclosure of its series became public after its vintage within its dates; "
              "nothing to score yet")
        return 0
    summary = F.score_summary(scored)
    print(f"{args.forecast}: {scored['target_id'].nunique()} later disclosure(s) scored")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    return 0


def _ledger_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ledger", help="the token ledger: 'tokenwatch ledger check' validates disclosures.csv")
    p.add_argument("action", choices=["check"], help="check: every bad row of the ledger, with its line number")
    p.add_argument("--path", type=Path, help="a ledger file (default: data/tokens/disclosures.csv)")


def cmd_ledger(args: argparse.Namespace) -> int:
    """One line per bad row of the ledger; exit 1 when any row is an error (warnings alone pass)."""
    from tokenwatch.methods.forecast import load_parts
    from tokenwatch.tokens.ledger import check_ledger, ledger_path

    path = args.path or ledger_path()
    wholes = dict(zip(load_parts()["part"], load_parts()["whole"], strict=True))
    problems = check_ledger(path, wholes=wholes)
    for problem in problems:
        print(f"{path.name}, {problem}")
    errors = sum(p.severity == "error" for p in problems)
    print(f"{path.name}: {errors} error(s), {len(problems) - errors} warning(s)")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    skip_unused_imports()
    parser = argparse.ArgumentParser(prog="tokenwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    lister = sub.add_parser("list", help="the notebooks, one line each")
    lister.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR, help=argparse.SUPPRESS)
    data_cli.add_parser(sub)
    _score_parser(sub)
    _ledger_parser(sub)
    args = parser.parse_args(argv)
    try:
        return {"run": cmd_run, "list": cmd_list, "data": data_cli.run, "score": cmd_score,
                "ledger": cmd_ledger}[args.command](args)
    except TokenwatchError as exc:
        print(f"tokenwatch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
