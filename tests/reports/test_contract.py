"""One contract per notebook: the registry, Params parsed once, build -> Report, notices collected."""

import dataclasses
import warnings

import pytest

from tokenwatch.errors import ParameterError, TokenwatchNotice
from tokenwatch.reports import RUNS, report_module
from tokenwatch.reports._base import Report, collect_notices, notice
from tokenwatch.run.cli import main
from tokenwatch.run.notebooks import INJECTED, discover, inspect


def test_the_registry_is_the_collection():
    found = discover()
    assert list(found) == list(RUNS) and [p.name for p in found.values()] == list(RUNS.values())
    with pytest.raises(KeyError, match="no report named 'weekly'"):
        report_module("weekly")


@pytest.mark.parametrize("name", list(RUNS))
def test_each_report_module_keeps_the_contract(name):
    module = report_module(name)
    fields = {f.name for f in dataclasses.fields(module.Params)}
    assert fields == set(inspect(discover()[name]).parameters) - INJECTED  # the notebook's parameters, exactly
    reports = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Report) and v is not Report]
    assert [r.run_name for r in reports] == [name]
    assert callable(module.build)


def test_params_are_checked_once_with_the_parameter_named():
    from tokenwatch.reports import weekly_tracker

    good = inspect(discover()["weekly_tracker"]).parameters
    p = weekly_tracker.Params.from_namespace(good)
    assert str(p.week_end.date()) == good["week_end"] and p.overseas == good["overseas"]
    with pytest.raises(ParameterError, match="week_end='2025-13-01' is not a date"):
        weekly_tracker.Params.from_namespace({**good, "week_end": "2025-13-01"})
    with pytest.raises(ParameterError, match="high_lookback='1y' is not one of"):
        weekly_tracker.Params.from_namespace({**good, "high_lookback": "1y"})
    with pytest.raises(ParameterError, match="parameter overseas holds \\[2463\\], not text"):
        weekly_tracker.Params.from_namespace({**good, "overseas": [2463]})
    with pytest.raises(ParameterError, match="parameter baskets is not set"):
        weekly_tracker.Params.from_namespace({k: v for k, v in good.items() if k != "baskets"})


def test_notices_are_collected_in_order_and_other_warnings_pass():
    with pytest.warns(DeprecationWarning, match="other"), collect_notices() as found:
        notice("first")
        warnings.warn("other", DeprecationWarning, stacklevel=1)
        warnings.warn(TokenwatchNotice("second"), stacklevel=1)
    assert found == ["first", "second"]


def test_list_and_help_params(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in RUNS) and "Weekly tracker" in out
    assert main(["run", "rating_scorecard", "--help-params"]) == 0
    out = capsys.readouterr().out
    assert "horizon_months  int   6" in out and "call_date" in out
    assert not [line for line in out.splitlines() if line.startswith("output_dir")]
