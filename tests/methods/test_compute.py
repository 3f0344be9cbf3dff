"""Tokens to FLOP/s, accelerators and capex by hand."""

import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.methods import compute


def test_tokens_to_compute_by_hand():
    table = compute.load_accelerators()
    a = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H200": 1.0}, {}).check(table)
    d = compute.demand(1e13, a, table)
    flops = 2 * 37e9 * 1e13 / 86_400                       # 8.565e18 FLOP/s sustained
    acc = 1.5 * flops * (0.7 / 0.4 + 0.3 / 0.15) / 989.4e12   # prefill and decode at their utilisations
    assert float(d["flops_per_s"]) == pytest.approx(flops)
    assert float(d["accelerators"]) == pytest.approx(acc)
    assert float(d["capex_cny"]) == pytest.approx(acc * 190_000)
    mixed = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H200": 0.5, "Ascend 910C": 0.5},
                                {"Ascend 910C": 100_000}).check(table)
    m = compute.demand(1e13, mixed, table)
    assert float(m["accelerators"]) == pytest.approx(1.5 * flops * 3.75 / ((989.4e12 + 800e12) / 2))
    with pytest.raises(ParameterError, match="no sourced price for Ascend 910B"):
        compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"Ascend 910B": 1.0}, {}).check(table)
    sens = compute.sensitivity(1e13, a, table, {"util_decode": [0.05, 0.3]})
    assert sens.loc[0, "accelerators_low"] > acc > sens.loc[0, "accelerators_high"]
