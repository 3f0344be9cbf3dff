"""A warm kernel's parsed files: parsed once per content, recorded as read every run, never stale."""

from __future__ import annotations

import os
import sys

import pytest

from tokenwatch import reads


@pytest.fixture
def run():
    """Each call begins a new run's record, as the runner does in a kernel (there `start` also unloads
    tokenwatch's modules; here they are put back, so the other tests keep the classes they imported)."""
    def start() -> None:
        loaded = {k: v for k, v in sys.modules.items() if k.startswith("tokenwatch")}
        reads.start()
        sys.modules.update(loaded)

    yield start
    reads._state["on"] = False


def test_the_same_bytes_are_parsed_once_and_recorded_as_read_in_every_run(tmp_path, run):
    path = tmp_path / "prices.csv"
    path.write_text("a,b\n1,2\n")
    calls = []

    def parse(data: bytes) -> str:
        calls.append(data)
        return data.decode()

    for _ in range(3):
        run()
        assert reads.parsed(path, "test:same", parse) == "a,b\n1,2\n"
        assert reads.parsed(path, "test:same", parse) == "a,b\n1,2\n"  # within a run: known by its stat
        assert str(path) in reads.record()["files"]
    assert len(calls) == 1


def test_a_file_rewritten_with_the_same_size_and_time_is_parsed_again_in_the_next_run(tmp_path, run):
    path = tmp_path / "prices.csv"
    path.write_text("close\n1.00\n")
    run()
    assert reads.parsed(path, "test:rewrite", bytes.decode) == "close\n1.00\n"
    stat = os.stat(path)
    path.write_text("close\n2.00\n")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same time: only the bytes tell
    run()
    assert reads.parsed(path, "test:rewrite", bytes.decode) == "close\n2.00\n"


def test_another_parser_version_never_gets_a_result_of_an_earlier_one(tmp_path, run):
    path = tmp_path / "prices.csv"
    path.write_text("x\n")
    run()
    assert reads.parsed(path, "v1", lambda data: "old") == "old"
    assert reads.parsed(path, "v2", lambda data: "new") == "new"
    module = tmp_path / "parser.py"
    module.write_text("")
    before = reads.code_version(str(module))
    os.utime(module, ns=(1, 1))
    assert reads.code_version(str(module)) != before
