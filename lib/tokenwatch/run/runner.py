"""Batch runs of the notebooks: the plan (parameters, sweeps) and the table of results. Executing them (kernels,
workers) is run/execute.py's and run/pool.py's; putting runs in place run/publish.py's; reuse from the execution
cache run/reuse.py's; the index (`runs.csv`, `index.html`) run/index.py's.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from hashlib import sha1
from pathlib import Path
from typing import Any

from tokenwatch.errors import ParameterError
from tokenwatch.run.index import (  # noqa: F401 - re-exported
    RUNS_COLUMNS,
    IndexNotWritten,
    check_output_root,
    scan_runs,
    write_index,
)
from tokenwatch.run.notebooks import INJECTED, check_parameters, inspect
from tokenwatch.run.publish import (  # noqa: F401 - re-exported for the pool, the cluster runner and tests
    FAILED_SUFFIX,
    REQUIRED,
    RUN_RECORD,
    finish_run,
    swap_into_place,
)
from tokenwatch.run.spec import RunResult, RunSpec, RunStatus  # noqa: F401 - re-exported

STAGING = ".staging"


def slug(params: dict[str, Any]) -> str:
    """A safe, unique folder name for a parameter set; a path shows only its file name (the folder name is shared
    in links and records), with the whole value in the hash."""
    text = "__".join(f"{k}={json.dumps(v, ensure_ascii=True) if not isinstance(v, str) else v}"
                     for k, v in sorted(params.items()))
    shown = "__".join(f"{k}={Path(v).name if isinstance(v, str) and os.sep in v else v}" if isinstance(v, str)
                      else f"{k}={json.dumps(v, ensure_ascii=True)}" for k, v in sorted(params.items()))
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "-", shown).strip("-.") or "run"
    if len(safe) > 80 or safe != text:
        safe = f"{safe[:64]}-{sha1(text.encode()).hexdigest()[:8]}"
    return safe


def plan(paths: list[Path], params: dict[str, Any], sweeps: dict[str, list[Any]]) -> list[RunSpec]:
    """Check parameters against each notebook before any kernel starts; expand sweeps."""
    specs = []
    both = sorted(set(params) & set(sweeps))
    if both:
        raise ParameterError(f"{', '.join(both)} is given both with -p (or -f) and with --sweep; keep one")
    grid = [dict(zip(sweeps, combo, strict=True)) for combo in itertools.product(*sweeps.values())] or [{}]
    for path in paths:
        info = inspect(path)
        if "output_dir" not in info.parameters:
            raise ParameterError(f"{path.name} has no 'output_dir' parameter; the runner needs it to collect results")
        for name in INJECTED & (set(params) | set(sweeps)):
            raise ParameterError(f"{name} is set by the runner (use --out for the output folder)")
        for point in grid:
            merged = check_parameters(info, {**params, **point})
            folder = info.name if not point else f"{info.name}/{slug(point)}"
            specs.append(RunSpec(info.name, Path(path).resolve(), merged, folder))
    folders = [s.folder for s in specs]
    if len(set(folders)) != len(folders):
        raise ParameterError("two runs would share an output folder; check the sweep values for repeats")
    return specs


def results_table(results: list[RunResult]) -> str:
    rows = [(r.spec.folder, json.dumps(r.spec.params, ensure_ascii=False, default=str)[:60],
             r.status + (" (cached)" if r.cached else ""), f"{r.seconds:.1f}") for r in results]
    head = ("run", "parameters", "status", "seconds")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows]]
    for r in results:
        if r.status != "ok":
            kept = f" (the last good run stays in {r.last_good_folder}/)" if r.last_good_folder else ""
            lines.append(f"FAILED {r.spec.folder}: {r.error}{kept}")
    return "\n".join(lines)

