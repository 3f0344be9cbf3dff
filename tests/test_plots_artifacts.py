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
