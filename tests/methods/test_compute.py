"""Tokens to FLOP/s, accelerators and capex by hand."""

import pandas as pd
import pytest

from tokenwatch.errors import DataValidationError, ParameterError
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
    with pytest.raises(ParameterError, match="no sourced price for Ascend 910C"):
        compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"Ascend 910C": 1.0}, {}).check(table)
    sens = compute.sensitivity(1e13, 1e13, a, table, {"util_decode": [0.05, 0.3]})
    assert sens.loc[0, "accelerators_low"] > acc > sens.loc[0, "accelerators_high"]


def test_attention_flops_per_token_by_hand():
    # DeepSeek-V3's shape: 61 layers, 128 heads, query-key 192 and value 128 wide per head, 37B active
    per_token = compute.flops_per_token(37e9, layers=61, heads=128, qk_dim=192, v_dim=128, context=4096)
    attention = 2 * 61 * 4096 * 128 * (192 + 128)  # QK^T and AV: 2 FLOPs per multiply-add, per context token
    assert attention == 20_468_203_520
    assert per_token == 74e9 + attention
    assert compute.flops_per_token(37e9) == 74e9  # no shape: the weights alone
    table = compute.load_accelerators()
    a = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H200": 1.0}, {}, 61, 128, 192, 128, 4096).check(table)
    assert float(compute.demand(86_400, a, table)["flops_per_s"]) == pytest.approx(per_token)  # a token a second


def test_capex_per_year_buys_growth_and_replacements_by_hand():
    table = compute.load_accelerators()
    a = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H200": 1.0}, {}, service_life=4, server_overhead=0.3,
                            network_overhead=0.1, datacentre_overhead=0.4, usd_cny=7.0).check(table)
    fleet = lambda tokens: float(compute.demand(tokens, a, table)["accelerators"])  # noqa: E731
    before, after = fleet(1e13), fleet(3e13)
    c = compute.capex_per_year(1e13, 3e13, a, table)
    bought = (after - before) + before / 4  # growth, plus a quarter of last year's fleet replaced
    assert float(c["bought"]) == pytest.approx(bought)
    assert float(c["capex_chips_cny"]) == pytest.approx(bought * 190_000)
    assert float(c["capex_all_in_cny"]) == pytest.approx(bought * 190_000 * 1.8)
    shrink = compute.capex_per_year(3e13, 1e13, a, table)  # a shrinking fleet still replaces what it keeps
    assert float(shrink["bought"]) == pytest.approx(after / 4)
    grid = pd.DataFrame({"scenario": "s", "date": ["2025-06-30", "2025-12-31", "2026-06-30", "2026-12-31"],
                         "p10": [1e12, 5e12, 8e12, 1e13], "p50": [2e12, 1e13, 2e13, 3e13],
                         "p90": [3e12, 2e13, 4e13, 9e13]})
    by_year = compute.capex_by_year(grid, a, table)
    assert by_year["year"].tolist() == [2026]  # the only year with a year end before and after it
    row = by_year.iloc[0]
    assert row["capex_all_in_cny_p50"] == pytest.approx(float(c["capex_all_in_cny"]))
    assert row["capex_all_in_usd_p50"] == pytest.approx(row["capex_all_in_cny_p50"] / 7.0)
    assert row["capex_chips_cny_p10"] < row["capex_chips_cny_p50"] < row["capex_chips_cny_p90"]
    with pytest.raises(ParameterError, match="service_life"):
        compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H200": 1.0}, {}, service_life=0).check(table)


def test_serving_precision_by_hand():
    table = compute.load_accelerators()
    at = lambda precision, mix: compute.Assumptions(  # noqa: E731
        37e9, 0.7, 0.4, 0.15, 1.5, mix, {}, precision=precision).check(table)
    per_day = 1e13
    need = 1.5 * 2 * 37e9 * per_day / 86_400 * (0.7 / 0.4 + 0.3 / 0.15)  # FLOP/s at the utilisations
    assert float(compute.demand(per_day, at("fp8", {"H200": 1.0}), table)["accelerators"]) == pytest.approx(
        need / 1978.9e12)  # dense FP8: half the chips of dense BF16 (989.4)
    domestic = {"H20": 0.75, "Ascend 910B": 0.25}
    assert float(compute.demand(per_day, at("int8", domestic), table)["accelerators"]) == pytest.approx(
        need / ((0.75 * 296 + 0.25 * 640) * 1e12))
    with pytest.raises(ParameterError, match=r"H20, Ascend 910B: no published FP8 peak.*\['bf16', 'int8'\]"):
        at("fp8", domestic)
    with pytest.raises(ParameterError, match="precision='fp4'"):
        at("fp4", {"H200": 1.0})


def test_named_mix_weighs_included_units_and_every_row_is_sourced():
    table = compute.load_accelerators()
    mix = compute.named_mix("domestic", table)
    assert mix == pytest.approx({"H20": 2_200_000 / 3_012_000, "Ascend 910B": 812_000 / 3_012_000})
    assert (table["spec_source"] != "").all() and (table["price_source"] != "").all()
    for name in ("B200", "GB200 (per GPU)", "H800", "MLU590", "Hygon DCU"):
        assert name in table.index
    with pytest.raises(ParameterError, match="mix_name='nowhere'.*domestic"):
        compute.named_mix("nowhere", table)


def test_unsourced_accelerator_row_is_refused(tmp_path):
    path = tmp_path / "accelerators.csv"
    text = (compute.data_dir() / "accelerators.csv").read_text(encoding="utf-8")
    path.write_text(text.replace("https://glennklockwood.com/garden/processors/B200,no source found", ",", 1),
                    encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"\['B200'.*no source found"):
        compute.load_accelerators(path)


def test_measured_throughput_route_by_hand():
    table = compute.load_accelerators()
    ref = compute.measured("H800")
    assert (ref.prefill, ref.decode, ref.precision) == (73_700 / 8, 14_800 / 8, "fp8")  # DeepSeek, per node of 8
    same = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H800": 1.0}, {"H800": 1.0}, precision="fp8").check(table)
    per_day = 1e13
    by_hand = 1.5 * per_day / 86_400 * (0.7 / 9212.5 + 0.3 / 1850)  # on the measured chip itself, no scaling
    assert float(compute.measured_accelerators(per_day, same, table, ref)) == pytest.approx(by_hand)
    h20 = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"H20": 1.0}, {}, precision="int8").check(table)
    scale = compute.route_scales(ref, h20, table)
    assert scale == pytest.approx({"prefill": 296 / 1978.9, "decode": 4.0 / 3.35})
    assert float(compute.measured_accelerators(per_day, h20, table, ref)) == pytest.approx(
        1.5 * per_day / 86_400 * (0.7 / (9212.5 * 296 / 1978.9) + 0.3 / (1850 * 4.0 / 3.35)))
    u = compute.implied_utilisation(ref, same, table)
    assert u == pytest.approx({"prefill": 9212.5 * 74e9 / 1978.9e12, "decode": 1850 * 74e9 / 1978.9e12})
    grid = pd.DataFrame({"scenario": "s", "date": ["2025-12-31", "2026-06-30"], "p50": [1e13, 2e13]})
    paths = compute.routes(grid, h20, table, ref)
    assert paths["date"].astype(str).tolist() == ["2025-12-31", "2026-06-30"]  # a year end and the last date
    assert paths["ratio"].iloc[0] == pytest.approx(
        float(compute.demand(1e13, h20, table)["accelerators"]) / float(compute.measured_accelerators(1e13, h20, table,
                                                                                                     ref)))
    with pytest.raises(ParameterError, match="memory_bandwidth_tbs is missing for \\['MLU590'\\]"):
        mlu = compute.Assumptions(37e9, 0.7, 0.4, 0.15, 1.5, {"MLU590": 1.0}, {"MLU590": 1.0}).check(table)
        compute.measured_accelerators(per_day, mlu, table, ref)
