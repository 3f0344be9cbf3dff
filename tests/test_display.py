"""The display layer: each formatter, the label table, and tables as a reader sees them."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from tokenwatch import display as D


@pytest.mark.parametrize(("value", "decimals", "shown"), [
    (4.3, 1, "+4.3%"), (-12.345, 2, "-12.35%"), (0.04, 1, "0.0%"), (-0.04, 1, "0.0%"), (1234.5, 1, "+1,234.5%"),
    (np.float64(2.25), 1, "+2.2%"), (np.nan, 1, "–"), (None, 2, "–"), (pd.NA, 1, "–")])
def test_percent_is_signed_rounded_and_never_minus_zero(value, decimals, shown):
    assert D.fmt_percent(value, decimals) == shown


def test_levels_shares_points_and_basis_points():
    assert D.fmt_level(80, 0) == "80%" and D.fmt_level(-3.21, 1) == "-3.2%"
    assert D.fmt_share(0.8) == "80%" and D.fmt_share(0.1234, 1) == "12.3%" and D.fmt_share(np.nan) == "–"
    assert D.fmt_pp(1.254) == "+1.25 pp" and D.fmt_pp(-0.5, 1) == "-0.5 pp"
    assert D.fmt_bp(12.46) == "+12.5 bp" and D.fmt_bp(-3, 0) == "-3 bp" and D.fmt_bp(None) == "–"


def test_multiples():
    assert D.fmt_multiple(2.44) == "x2.4" and D.fmt_multiple(30, 0) == "x30" and D.fmt_multiple(1234.5) == "x1,234.5"
    assert D.fmt_multiple(np.nan) == "–"


@pytest.mark.parametrize(("value", "shown"), [
    (6.59e13, "65.9 trn"), (1.2e9, "1.2 bn"), (-3.5e9, "-3.5 bn"), (350e6, "350.0 m"), (12_400, "12,400"),
    (9.9996e11, "1.0 trn"), (0, "0"), (np.nan, "–")])
def test_token_counts_in_words_never_in_e_notation(value, shown):
    assert D.fmt_tokens(value) == shown


def test_money_names_its_currency():
    assert D.fmt_money(1.234e10, 1, "CNY") == "CNY 12.3 bn"
    assert D.fmt_money(25_000, 1, "USD") == "USD 25,000"
    assert D.fmt_money(-2e6, 1, "USD") == "USD -2.0 m"
    assert D.FORMATTERS["cny"](5e8, 0) == "CNY 500 m" and D.FORMATTERS["usd"](None, 1) == "–"


@pytest.mark.parametrize(("value", "shown"), [
    (0.0571, "0.057"), (0.0004, "< 0.001"), (0.001, "0.001"), (1.0, "1.000"), (0.0, "< 0.001"), (np.nan, "–")])
def test_p_values(value, shown):
    assert D.fmt_pvalue(value) == shown


def test_dates_without_times_and_months():
    assert D.fmt_date(pd.Timestamp("2025-06-30 15:00")) == "2025-06-30"
    assert D.fmt_date("2025-06-30 00:00:00") == "2025-06-30" and D.fmt_date(pd.NaT) == "–"
    assert D.fmt_month(pd.Timestamp("2027-03-31")) == "2027-03" and D.fmt_date("next year") == "next year"


def test_numbers_counts_signed_and_text():
    assert D.fmt_number(7.402608) == "7.40" and D.fmt_number(-7.402608, 3) == "-7.403"
    assert D.fmt_number(6.59e13) == "65.9 trn" and D.fmt_number(1.5e-7) == "0.00"
    assert D.fmt_count(12345.6) == "12,346" and D.fmt_signed(0.4213) == "+0.42" and D.fmt_signed(-1.3) == "-1.30"
    assert D.fmt_text(True) == "yes" and D.fmt_text(6.59e13) == "65.9 trn" and D.fmt_text("深南电路") == "深南电路"
    assert D.fmt_text("") == "–" and D.fmt_link("https://www.example.com/a?b=1") == "www.example.com"


def test_text_passes_through_numeric_formatters():
    assert D.fmt_percent("n/a") == "n/a" and D.fmt_tokens("several") == "several"


def test_the_label_table_names_units_and_patterns():
    label, known = D.label_for("return_pct")
    assert known and label.label.endswith("%") and label.kind == "percent"
    car, known = D.label_for("car_pct_深南电路")
    assert known and "深南电路" in car.label and car.kind == "percent"
    other, known = D.label_for("some_new_column", pd.Series([1.5, 2.25]))
    assert not known and other.label == "Some new column" and other.kind == "number"


def test_a_bad_kind_in_the_label_table_is_named(tmp_path, monkeypatch):
    (tmp_path / "display_labels.csv").write_text("column,label,kind,decimals\nx,X,colour,\n", encoding="utf-8")
    monkeypatch.setenv("TOKENWATCH_DATA", str(tmp_path))
    D.label_table.cache_clear()
    try:
        with pytest.raises(Exception, match="kind 'colour'"):
            D.label_table()
    finally:
        monkeypatch.undo()
        D.label_table.cache_clear()


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"code": [f"{600000 + i}" for i in range(rows)], "name": ["深南电路"] * rows,
                         "return_pct": np.linspace(-5, 5, rows), "tokens_per_day": [6.59e13] * rows,
                         "date": pd.date_range("2025-06-02", periods=rows)})


def test_a_table_labels_columns_puts_names_before_codes_and_formats_cells():
    t = D.display_table(_frame(3), "Caption <b>")
    assert [c.name for c in t.columns][:2] == ["name", "code"]
    assert t.cells[0][0] == "深南电路" and t.cells[0][2] == "-5.0%" and t.cells[0][3] == "65.9 trn"
    assert t.cells[0][4] == "2025-06-02" and t.raw[0][3] == 6.59e13
    page = t.to_html()
    assert "Caption &lt;b&gt;" in page and "return_pct" not in re.sub(r'title="[^"]*"', "", page)
    assert "<script" not in page and D.MIME not in t._repr_mimebundle_()


def test_a_long_table_carries_every_row_as_escaped_json():
    frame = _frame(40)
    frame.loc[3, "name"] = '</script><script>alert("x")</script>&'
    t = D.display_table(frame)
    assert t.interactive
    page = t.to_html()
    preview = page.split('<div class="tw-preview">')[1]
    assert preview.count("<tr>") == D.PAGE_ROWS + 1  # the heading and the first page, without scripts
    printed = page.split('<div class="tw-print">')[1].split("</table>")[0]
    assert printed.count("<tr>") == 40 + 1  # every row, shown only in print
    data = re.search(r'<script type="application/json" class="tw-data">(.*?)</script>', page, re.S).group(1)
    assert "<" not in data and ">" not in data and "&" not in data
    table = json.loads(data)
    assert len(table["rows"]) == 40 and table["rows"][3][0][0] == '</script><script>alert("x")</script>&'
    assert 'alert("x")</script>' not in page
    bundle = t._repr_mimebundle_()
    assert bundle[D.MIME]["rows"][0][2] == ["-5.0%", -5.0]
    assert 'class="tw-print"' not in bundle["text/html"]  # in a notebook; its report prints from the JSON output
    assert 'class="tw-print"' in D.table_html(bundle[D.MIME])
    text = bundle["text/plain"].splitlines()  # a console shows the first page and says how many rows there are
    assert len(text) == 1 + D.PAGE_ROWS + 1 and text[-1] == f"... the first {D.PAGE_ROWS} of 40 rows"


def test_the_template_renders_only_the_shape_of_a_table():
    with pytest.raises(ValueError):
        D.table_html("<script>alert(1)</script>")
    page = D.table_html({"columns": [{"name": "x", "label": "<i>X</i>", "kind": "link", "num": False}],
                         "rows": [[["host", "javascript:alert(1)"]], [["ok", "https://example.com/"]]]})
    assert "<i>" not in page and "javascript:" not in page and 'href="https://example.com/"' in page


def test_a_format_string_applies_to_unlabelled_numeric_columns_only():
    pivot = pd.DataFrame({"Phase 1": [1.234], "Phase 2": [np.nan]}, index=pd.Index(["NVDA"], name="symbol"))
    t = D.display_table(pivot, index=True, fmt="{:+.1f}")
    assert t.cells[0] == ["NVIDIA", "NVDA", "+1.2", "–"]  # the name from the universe, before the code


def test_codes_get_their_names_from_the_universe_first():
    t = D.display_table(pd.DataFrame({"symbol": ["688981", "segment:PCB/CCL"], "beta": [1.234, 0.5]}))
    assert [c.label for c in t.columns] == ["Name", "Symbol", "Beta"]
    assert t.cells == [["中芯国际", "688981", "1.23"], ["–", "segment:PCB/CCL", "0.50"]]
    subjects = D.display_table(pd.DataFrame({"window": ["[0,1]"], "subject": ["688981"], "beta": [1.0]}))
    assert [c.label for c in subjects.columns][:3] == ["Window", "Name", "Subject"]
    named = D.display_table(pd.DataFrame({"subject": ["深南电路"], "car_pct": [1.0]}))
    assert [c.label for c in named.columns] == ["Subject", "CAR, %"]  # names already: nothing added


def test_every_label_reads_as_words():
    exact, patterns = D.label_table()
    labels = [label.label for label in exact.values()] + [label.label for _, label in patterns]
    assert len(exact) > 150 and all(not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", text) for text in labels)
    assert all(label.kind in D.FORMATTERS and 0 <= label.decimals <= 4 for label in exact.values())
