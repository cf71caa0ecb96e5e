"""Charts as inline SVG, drawn here: no charting library and nothing fetched by the browser.

Each function takes plain numbers and returns SVG markup (safe to put in a page: every label is
escaped). Colours come from CSS classes in dashboard.css, so the dark theme styles them.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 600, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 8, 10, 22
MAX_BAR_LABELS = 16  # more bars than this get only the first and last labels


def si(value: float) -> str:
    """1234567 -> '1.23M': axis labels that fit."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _frame(title: str, body: list[str], low: float, high: float, first: str,
           last: str) -> Markup:  # fmt: skip
    """Axes, the value range on the left and the first and last x labels (empty: none)."""
    bottom = HEIGHT - PAD_BOTTOM
    x_labels = [
        f'<text class="label" x="{PAD_LEFT}" y="{HEIGHT - 6}">{escape(first)}</text>',
        f'<text class="label" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{escape(last)}</text>",
    ] if first or last else []  # fmt: skip
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="none">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{PAD_LEFT}" y1="{bottom}" x2="{WIDTH - PAD_RIGHT}" '
        f'y2="{bottom}"/>',
        f'<text class="label" x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">'
        f"{escape(si(high))}</text>",
        f'<text class="label" x="{PAD_LEFT - 4}" y="{bottom}" text-anchor="end">'
        f"{escape(si(low))}</text>",
        *x_labels,
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))


def _scale(values: Sequence[float], zero_based: bool) -> tuple[float, float]:
    low = 0.0 if zero_based else min(values)
    high = max(values)
    if high == low:
        high = low + (abs(low) or 1.0)
    return low, high


def line_chart(title: str, points: Sequence[tuple[float, float]], zero_based: bool = True,
               css: str = "series") -> Markup:  # fmt: skip
    """A line through (x, y) points, x ascending; the x labels are the first and last x."""
    if len(points) < 2:
        return Markup(f'<p class="text-body-secondary small">{escape(title)}: '
                      "not enough blocks yet</p>")  # fmt: skip
    xs = [p[0] for p in points]
    low, high = _scale([p[1] for p in points], zero_based)
    x_span = (xs[-1] - xs[0]) or 1
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def xy(x: float, y: float) -> str:
        px = PAD_LEFT + (x - xs[0]) / x_span * inner_w
        py = PAD_TOP + (1 - (y - low) / (high - low)) * inner_h
        return f"{px:.1f},{py:.1f}"

    path = " ".join(xy(x, y) for x, y in points)
    body = [f'<polyline class="{escape(css)}" fill="none" points="{path}"/>']
    return _frame(title, body, low, high, f"{xs[0]:g}", f"{xs[-1]:g}")


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float],
              css: str = "bar") -> Markup:  # fmt: skip
    """Bars, one per label, left to right; each bar's tooltip says its label and value."""
    if not values or max(values) <= 0:
        return Markup(f'<p class="text-body-secondary small">{escape(title)}: nothing yet</p>')
    low, high = _scale(values, True)
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = inner_w / len(values)
    label_each = len(values) <= MAX_BAR_LABELS  # else only the first and the last
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (value - low) / (high - low) * inner_h
        x = PAD_LEFT + i * slot + slot * 0.1
        y = PAD_TOP + inner_h - h
        body.append(f'<rect class="{escape(css)}" x="{x:.1f}" y="{y:.1f}" '
                    f'width="{slot * 0.8:.1f}" height="{h:.1f}">'
                    f"<title>{escape(label)}: {escape(si(value))}</title></rect>")  # fmt: skip
        if label_each:
            body.append(f'<text class="label" x="{x + slot * 0.4:.1f}" y="{HEIGHT - 6}" '
                        f'text-anchor="middle">{escape(label)}</text>')  # fmt: skip
    if label_each:
        return _frame(title, body, low, high, "", "")
    return _frame(title, body, low, high, labels[0], labels[-1])
