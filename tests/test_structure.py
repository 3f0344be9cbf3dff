"""The package's shape: no import circles, short runner modules, and environment.yml saying what pyproject.toml
says."""

import re
import tomllib
from pathlib import Path

import yaml

from tokenwatch.imports import import_graph

ROOT = Path(__file__).parents[1]


def find_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as [a, b, ..., a], or [] when there is none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_the_walk_finds_a_circle_where_there_is_one(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import X\n")  # a function's import, relative
    (pkg / "c.py").write_text("import pkg\nX = 1\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert find_circle(graph) == ["pkg", "pkg.sub.b", "pkg.c", "pkg"]
    (pkg / "c.py").write_text("X = 1\n")
    assert find_circle(import_graph(pkg)) == []


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert "tokenwatch.market.prices" in graph["tokenwatch.market"]  # the walk sees the package
    circle = find_circle(graph)
    assert not circle, "import circle: " + " -> ".join(circle)


def _name(requirement: str) -> tuple[str, str]:
    """('pandas', '>=3.0,<4') from 'pandas>=3.0,<4', names normalised as pip and conda-forge spell them alike."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(2).replace(" ", "")


def test_environment_yml_lists_what_pyproject_lists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = dict(_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]])
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))["dependencies"]
    conda = [d for d in env if isinstance(d, str)]
    pip = next(d["pip"] for d in env if isinstance(d, dict))
    listed: dict[str, str] = {}
    for requirement in [*conda, *(p for p in pip if p != "-e .")]:
        name, spec = _name(requirement.replace("=", "==", 1) if re.search(r"[^<>=!]=[^=]", requirement) else
                           requirement)
        assert name not in listed, f"environment.yml lists {name} twice"
        listed[name] = spec
    python = listed.pop("python")
    assert "-e ." in pip, "environment.yml should install the project itself (pip: -e .)"
    assert listed.pop("pip", None) == ""
    low = re.search(r">=\s*(3\.\d+)", project["requires-python"])
    assert low and python == f"=={low.group(1)}", f"python {python} in environment.yml, {project['requires-python']}"
    assert listed == wanted, (
        "environment.yml and pyproject.toml differ: "
        f"only in pyproject {sorted(set(wanted) - set(listed))}, only in environment.yml "
        f"{sorted(set(listed) - set(wanted))}, versions differ "
        f"{sorted(n for n in set(wanted) & set(listed) if wanted[n] != listed[n])}")


MAX_LINES = 400  # the runner split by what it does (#28), and the rally replay's report


def test_the_runner_and_the_rally_report_keep_their_modules_short():
    modules = [*(ROOT / "lib" / "tokenwatch" / "run").glob("*.py"), ROOT / "lib/tokenwatch/reports/rally_replay.py"]
    long = {m.relative_to(ROOT).as_posix(): n for m in modules
            if (n := len(m.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"
