"""A training run's learning curve as a CSV table and a self-contained SVG plot.

The SVG is written by hand (a few dozen lines of markup) so the main install
needs no plotting library: any browser opens it, and the CSV beside it feeds
whatever plotting tool a user prefers.

    from dynagraph.learning_curve import write_learning_curve
    write_learning_curve("runs/model", history, "dev_accuracy", title="Tree-LSTM on ListOps")
    # -> runs/model.curve.csv and runs/model.curve.svg
"""
from __future__ import annotations

import csv
import math
import os
from xml.sax.saxutils import escape

__all__ = ["write_learning_curve", "svg_line_plot"]

WIDTH, HEIGHT = 480, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 40, 45   # margins around the plot area


def write_learning_curve(basename: str, history: list, metric: str = "dev_accuracy",
                         title: str = "", percent: bool = True) -> tuple:
    """Writes ``basename.curve.csv`` (every key of every epoch) and ``basename.curve.svg``
    (``metric`` per epoch); returns the two paths.

    ``history``: one dict per epoch with at least ``"epoch"`` and ``metric``.
    ``percent``: plot the metric times 100 (for accuracies in [0, 1]).
    """
    if not history:
        raise ValueError("write_learning_curve: history is empty (no epoch to plot)")
    missing = [i for i, h in enumerate(history) if "epoch" not in h or metric not in h]
    if missing:
        raise ValueError(f"write_learning_curve: history entry {missing[0]} lacks 'epoch' or {metric!r}: "
                         f"{history[missing[0]]}")
    folder = os.path.dirname(basename)
    if folder:
        os.makedirs(folder, exist_ok=True)
    csv_path, svg_path = basename + ".curve.csv", basename + ".curve.svg"
    keys = list(dict.fromkeys(k for h in history for k in h))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    scale = 100.0 if percent else 1.0
    xs = [float(h["epoch"]) for h in history]
    ys = [float(h[metric]) * scale for h in history]
    label = metric.replace("_", " ") + (" (%)" if percent else "")
    with open(svg_path, "w") as f:
        f.write(svg_line_plot(xs, ys, title=title, xlabel="epoch", ylabel=label))
    return csv_path, svg_path


def svg_line_plot(xs, ys, title: str = "", xlabel: str = "", ylabel: str = "") -> str:
    """An SVG document plotting ys against xs as a line with a marker per point."""
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"svg_line_plot: xs and ys need the same, non-zero length; got {len(xs)} and {len(ys)}")
    if not all(math.isfinite(v) for v in list(xs) + list(ys)):
        raise ValueError("svg_line_plot: xs and ys must be finite numbers")
    x0, x1 = _padded(min(xs), max(xs))
    y0, y1 = _padded(min(ys), max(ys))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x):
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y):
        return TOP + (y1 - y) / (y1 - y0) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>']
    for tick in _ticks(y0, y1):   # horizontal grid lines with their values
        parts.append(f'<line x1="{LEFT}" y1="{py(tick):.1f}" x2="{LEFT + pw}" y2="{py(tick):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for tick in _ticks(x0, x1, integers=True):
        parts.append(f'<text x="{px(tick):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    for x, y in zip(xs, ys):
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="#1f77b4">'
                     f'<title>{x:g}: {y:.2f}</title></circle>')
    parts.append(f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 8}" text-anchor="middle">{escape(xlabel)}</text>')
    parts.append(f'<text transform="translate(16,{TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
                 f'{escape(ylabel)}</text>')
    parts.append("</svg>\n")
    return "\n".join(parts)


def _padded(lo: float, hi: float) -> tuple:
    """An axis range around [lo, hi] with a little room (a flat series gets ±1)."""
    if hi - lo < 1e-12:
        return lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float, integers: bool = False) -> list:
    """About five round tick values inside [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    raw = (hi - lo) / 5
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * step >= raw:
            step *= m
            break
    if integers:
        step = max(1.0, round(step))
    first = math.ceil(lo / step) * step
    count = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(max(0, count))]
