"""What a run is (RunSpec) and how it ended (RunResult): the records every part of the runner passes around,
kept apart so that planning, executing, publishing and indexing can all import them without a circle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass
class RunSpec:
    notebook: str
    path: Path
    params: dict[str, Any]
    folder: str  # relative to the output root: '<notebook>' or '<notebook>/<slug>'
    cwd: Path = field(default_factory=Path.cwd)  # the kernel's working folder: where `tokenwatch run` was
    # started, so a relative path parameter (-p projection_dir reports/latest/...) means what it says

    @property
    def run_id(self) -> str:
        return self.folder.replace("/", "__")


RunStatus = Literal["ok", "failed"]


@dataclass
class RunResult:
    spec: RunSpec
    status: RunStatus
    seconds: float
    error: str = ""
    folder: str = ""  # where this attempt's files are, relative to the output root
    last_good_folder: str = ""  # a failed rerun leaves the good run here
    cached: bool = False  # reused: nothing it depends on changed since it ran
    reason: str = ""  # why it was reused or rerun (`tokenwatch run --explain`)
    startup: float = 0.0  # of `seconds`, those spent starting its kernel (not the run's own: left out of its order)
