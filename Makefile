# tokenwatch: `make report` runs the collection, `make test` runs the tests.
# Both create .venv with python3 + pip if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tokenwatch-installed

# The offline snapshot: defaults to ../shared/market when that folder exists.
TOKENWATCH_SNAPSHOT ?= $(abspath $(wildcard ../shared/market))
export TOKENWATCH_SNAPSHOT

.PHONY: venv report test lint kernel lab bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name tokenwatch --display-name "Python (tokenwatch)" >/dev/null
	$(PY) -m tokenwatch.run.cli_errors >/dev/null
	touch $(STAMP)

# With no snapshot, `data ensure` first fetches into the cache what the notebooks read (needs a network), or stops
# here with one message on how to get data, before anything runs.
report: venv
	$(VENV)/bin/tokenwatch data ensure
	$(VENV)/bin/tokenwatch run --all --out reports/latest

test: venv
	$(VENV)/bin/ruff check lib tests benchmarks notebooks
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check lib tests benchmarks notebooks

# Register the kernel for a JupyterLab installed outside .venv as well.
kernel: venv
	$(PY) -m ipykernel install --user --name tokenwatch --display-name "Python (tokenwatch)"

lab: venv
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

bench: venv
	$(PY) benchmarks/bench_market.py
	$(PY) benchmarks/bench_projection.py
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) benchmarks/bench_runner.py
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) benchmarks/bench_scale.py
	$(VENV)/bin/tokenwatch run --all --out reports/bench-export --no-progress && $(PY) benchmarks/bench_export.py reports/bench-export

clean:
	rm -rf $(VENV) reports runs .pytest_cache test-results
