"""Leaderboard charts (bench/charts.py): colours that follow the method, axes that mean something, readable ticks."""

from __future__ import annotations

import pytest

from ucdbench.reporting.charts import Chart, ChartKind, MethodColours, Point, chart_figure, section_charts
from ucdbench.reporting.tables import records_frame
from ucdbench.core.stats import mean_ci

from test_leaderboard import _section_record


def _point(method: str, x: float, y: float, label: str | None = None) -> Point:
    return Point(method, label or method, mean_ci([x, x * 1.01]), mean_ci([y, y + 1.0]))


def _chart(points: list[Point], log_x: bool = False) -> Chart:
    kind = ChartKind("storage", "{y} against {x}", "compression/artifact_bytes", "stored bytes", log_x=log_x)
    return Chart(kind, "stored bytes", "top1 (%)", False, True, tuple(points), "top1 against stored bytes")


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _drawn(chart: Chart, colours: MethodColours):
    """The chart's axes, laid out as in the PNG."""
    figure = chart_figure(chart, "test", colours)
    figure.canvas.draw()
    return figure.axes[0]


def _colours_by_label(ax) -> dict[str, str]:
    from matplotlib.colors import to_hex

    return {container.get_label(): to_hex(container.lines[0].get_color())
            for container in ax.containers if not container.get_label().startswith("_")}


def test_a_method_keeps_its_colour_whatever_rows_a_chart_has():
    records = [_section_record(f"{m}{s}", m, s, 80.0) for m in ("lora", "nola", "vera", "full-ft") for s in (0, 1)]
    colours = MethodColours.of_records(records)
    every = _chart([_point("full-ft", 1e6, 90), _point("lora", 1e4, 80), _point("nola", 1e3, 70), _point("vera", 1e3, 75)])
    some = _chart([_point("vera", 1e3, 75), _point("lora", 1e4, 80, "lora (r=1)"), _point("lora", 3e4, 82, "lora (r=4)")])
    first, second = _drawn(every, colours), _drawn(some, colours)
    in_every, in_some = _colours_by_label(first), _colours_by_label(second)
    assert in_every["vera"] == in_some["vera"] == colours.colour("vera")  # 4th point there, 1st here: same colour
    assert in_every["lora"] == in_some["lora (r=1)"] == in_some["lora (r=4)"]  # a method's variants share it
    assert len(set(in_every.values())) == 4  # and the methods differ
    markers = {c.get_label(): c.lines[0].get_marker() for c in second.containers}
    assert markers["lora (r=1)"] != markers["lora (r=4)"]  # the variants differ by marker


def test_colours_are_the_builds_methods_in_name_order_and_never_run_out():
    colours = MethodColours(tuple(f"m{i:02d}" for i in range(30)))
    assert colours.colour("m00") != colours.colour("m01")
    assert len({colours.colour(f"m{i:02d}") for i in range(30)}) == 30  # beyond the palette, hues still differ
    assert MethodColours(("a", "m05")).colour("m05") == MethodColours(("a", "m05", "z")).colour("m05")
    assert colours.colour("not in the build") == colours.colour("not in the build")  # deterministic fallback


def test_rows_all_at_one_x_or_one_y_make_no_chart():
    """The fewshot case: augmentation recipes that all store the same bytes are no storage chart."""
    records = []
    for seed in (0, 1):
        for method, top1 in (("lora", 80.0), ("nola", 75.0), ("full-ft", 90.0)):
            records.append(_section_record(f"{method}{seed}", method, seed, top1 + seed, size_percent=2.0))
    by_key = {r["key"]: r for r in records}
    for r in records:  # every row stores the same bytes
        r["evaluations"]["compression"]["artifact_bytes"] = 1000
    assert [c.kind.name for c in section_charts(records_frame(records), by_key, "top1")] == []
    for r in records:  # the bytes differ again, the accuracy does not
        r["evaluations"]["compression"]["artifact_bytes"] = 1000 * (1 + len(r["method"]["name"]))
        r["evaluations"]["accuracy"]["top1"] = 50.0
    assert [c.kind.name for c in section_charts(records_frame(records), by_key, "top1")] == []
    records[0]["evaluations"]["accuracy"]["top1"] = 51.0
    assert "storage" in [c.kind.name for c in section_charts(records_frame(records), by_key, "top1")]


def _overlap(labels) -> bool:
    boxes = sorted((label.get_window_extent() for label in labels if label.get_text()), key=lambda b: b.x0)
    return any(left.x1 > right.x0 for left, right in zip(boxes, boxes[1:]))


@pytest.mark.parametrize("xs, log", [((112, 120, 128, 152), False), ((1148, 40_000, 2_000_000), True),
                                     ((1e5 + 1, 1e5 + 3, 1e5 + 7), False)])
def test_a_log_axis_only_over_a_decade_and_tick_labels_never_overlap(xs, log):
    colours = MethodColours(("a", "b", "c", "d"))
    chart = _chart([_point(m, x, 50 + i) for i, (m, x) in enumerate(zip("abcd", xs))], log_x=True)
    assert chart.log_x is log
    ax = _drawn(chart, colours)
    assert ax.get_xscale() == ("log" if log else "linear")
    labels = [label for label in ax.get_xticklabels() if label.get_text()]
    assert len(labels) >= 2 and not _overlap(labels)
    assert not any("×" in label.get_text() or "e+" in label.get_text() for label in labels)  # plain numbers
    assert ("log scale" in ax.get_xlabel()) is log
