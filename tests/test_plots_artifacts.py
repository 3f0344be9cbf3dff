import json
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from tokenwatch import plots  # noqa: E402
from tokenwatch.artifacts import output_dir, read_summary, write_summary, write_table  # noqa: E402


def test_chinese_names_render_with_the_cjk_font(tmp_path):
    fig, ax = plots.new_figure()
    ax.bar(["景旺电子", "兆龙互连"], [22.63, 13.15])
    plots.finish(fig, "周涨跌幅 week return", "Source: test", ylabel="%")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns 'Glyph ... missing from font(s)' for empty boxes
        fig.savefig(tmp_path / "x.png")
    plt.close(fig)
    found = font_manager.findfont(font_manager.FontProperties(family=plots.CJK_FAMILY), fallback_to_default=False)
    assert found.endswith(plots.CJK_FONT_FILE)


def test_a_missing_glyph_is_noticed(tmp_path):
    """The check above can fail: DejaVu alone has no Han glyphs."""
    plots.use_style()
    fig, ax = plt.subplots()
    ax.set_title("景旺电子", fontfamily="DejaVu Sans")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "y.png")
    plt.close(fig)
    assert any("missing from font" in str(w.message) for w in caught)


def test_tables_and_summary_are_written_atomically(tmp_path):
    out = output_dir(tmp_path / "run", "demo")
    write_table(pd.DataFrame({"code": ["002463"], "x": [1.5]}), out, "t", ["code", "x"])
    write_summary(out, {"when": pd.Timestamp("2025-06-27"), "nan": float("nan"), "n": 3})
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "t.csv"]
    assert (out / "t.csv").read_text().splitlines() == ["code,x", "002463,1.5"]
    assert read_summary(out) == {"when": "2025-06-27", "nan": None, "n": 3}
    assert json.loads((out / "summary.json").read_text())["n"] == 3


def test_titles_need_no_missing_font_weight(tmp_path, caplog):
    """Noto Sans CJK SC ships one weight: a bold title would log a findfont fallback."""
    fig, ax = plots.new_figure()
    ax.plot([1, 2], [1, 2])
    fig.suptitle("周 week")
    plots.finish(fig, "标题 title", "Source: test", ylabel="%")
    with caplog.at_level("WARNING", logger="matplotlib.font_manager"):
        fig.savefig(tmp_path / "t.png")
    plt.close(fig)
    assert not [r for r in caplog.records if "Failed to find font weight" in r.getMessage()]


def test_a_chart_writes_its_data_beside_the_report_and_links_it(tmp_path, monkeypatch):
    monkeypatch.setattr("tokenwatch.artifacts._CURRENT", {})
    fig, ax = plots.new_figure()
    ax.bar(["a"], [1])
    plots.finish(fig, "no run yet", "Source: test", data=pd.DataFrame({"x": [1]}))
    assert not list(tmp_path.iterdir())  # outside a run (no output folder) nothing is written
    out = output_dir(tmp_path / "run", "test")
    data = pd.DataFrame({"name": ["景旺电子"], "return_pct": [1.23456789]}).set_index("name")

    def segment_chart(title: str):
        fig, ax = plots.new_figure()
        ax.bar(data.index, data["return_pct"])
        return plots.finish(fig, title, "Source: test", data=data)

    segment_chart("first")
    segment_chart("second")  # the same chart with another title: a second file, the first kept
    segment_chart("first")  # drawn again: the same file
    assert sorted(p.name for p in out.iterdir()) == ["chart_segment_chart.csv", "chart_segment_chart_2.csv"]
    assert pd.read_csv(out / "chart_segment_chart.csv")["return_pct"].iloc[0] == 1.23456789  # full precision
    link = plots.data_link(out / "chart_segment_chart.csv")
    assert 'href="chart_segment_chart.csv"' in link and "data (CSV)" in link
    plt.close("all")


def test_red_up_green_down_bars_get_a_key_unless_the_chart_has_one():
    fig, ax = plots.new_figure()
    ax.bar(["a", "b"], [1, -1], color=plots.bar_colors([1, -1]))
    plots.finish(fig, "t", "s")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gain (red, Chinese convention)", "loss (green)"]
    fig, ax = plots.new_figure()
    ax.barh([0], [1], color=plots.POSITIVE, label="high value of the assumption")
    ax.legend()
    plots.finish(fig, "t", "s")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["high value of the assumption"]
    fig, ax = plots.new_figure()
    ax.bar(["a"], [1], color="#2e86c1")
    plots.finish(fig, "t", "s")
    assert ax.get_legend() is None  # no red or green: nothing to explain
    plt.close("all")
