"""The SVG charts, the fee-rate histogram and the dashboard's config options."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinium.config import ConfigError, build_options
from coinium.web.charts import bar_chart, line_chart, si
from coinium.web.pages.mempool import FEE_RATE_EDGES, fee_rate_histogram


@given(st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 1e15)), min_size=2, max_size=50,
                unique_by=lambda p: p[0]))  # fmt: skip
def test_line_chart_is_well_formed_svg(points):
    svg = line_chart("Hash <rate> & more", sorted(points))
    root = ET.fromstring(str(svg))
    assert root.tag.endswith("svg")
    assert root.find("{*}title").text == "Hash <rate> & more"  # escaped in, read back whole
    assert len(root.find("{*}polyline").get("points").split()) == len(points)


def test_bar_chart_has_one_bar_per_value_and_escapes_labels():
    svg = bar_chart("t", ["<a>", "b", "c"], [1, 0, 5])
    root = ET.fromstring(str(svg))
    bars = root.findall("{*}rect")
    assert len(bars) == 3
    assert bars[0].find("{*}title").text == "<a>: 1"
    labels = [t.text for t in root.findall("{*}text")]
    assert {"<a>", "b", "c"} <= set(labels)  # few bars: each labelled
    many = ET.fromstring(str(bar_chart("t", [str(i) for i in range(40)], list(range(40)))))
    assert [t.text for t in many.findall("{*}text")][-2:] == ["0", "39"]  # first and last only
    assert float(bars[2].get("height")) > float(bars[0].get("height")) > 0
    assert "nothing yet" in bar_chart("t", ["a"], [0])
    assert "not enough blocks" in line_chart("t", [(1, 1.0)])


def test_si_labels():
    assert [si(v) for v in (0, 999, 1234, 2.5e6, 7e9, 1e12)] == [
        "0", "999", "1.23k", "2.5M", "7G", "1T"]  # fmt: skip


def test_fee_rate_histogram_counts_every_transaction_once():
    rates = [0, 999, 1000, 1500, 10**9, 50_000]
    labels, counts = fee_rate_histogram(rates)
    assert len(labels) == len(counts) == len(FEE_RATE_EDGES)
    assert sum(counts) == len(rates)
    assert counts[0] == 2 and counts[1] == 2 and counts[-1] == 1


def test_dashboard_options_are_off_and_on_loopback_by_default(tmp_path):
    options = build_options("regtest", tmp_path)
    assert options.dashboard.enabled is False and options.dashboard.bind == "127.0.0.1"
    (tmp_path / "coinium.toml").write_text(
        "dashboard = true\n[regtest]\ndashboard_port = 20500\ndashboard-bind = '::1'\n")
    options = build_options("regtest", tmp_path)
    assert (options.dashboard.enabled, options.dashboard.port, options.dashboard.bind) == (
        True, 20500, "::1")  # fmt: skip
    flags = build_options("regtest", tmp_path, {"dashboard": False, "dashboard_port": 1})
    assert (flags.dashboard.enabled, flags.dashboard.port) == (False, 1)


@pytest.mark.parametrize("text,message", [
    ("dashboard = 'maybe'", "dashboard: expected true or false"),
    ("dashboard_port = 70000", "dashboard_port: expected a whole number"),
    ("dashboard_bind = 5", "dashboard_bind: expected text"),
])  # fmt: skip
def test_bad_dashboard_options_name_the_key(tmp_path, text, message):
    (tmp_path / "coinium.toml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        build_options("regtest", tmp_path)
