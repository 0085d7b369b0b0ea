"""dynagraph.learning_curve: the CSV holds the history, the SVG plots it where it should."""
import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dynagraph.learning_curve import svg_line_plot, write_learning_curve

NS = "{http://www.w3.org/2000/svg}"


def _points(svg_text):
    root = ET.fromstring(svg_text)
    return [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{NS}circle")]


def test_csv_and_svg_hold_every_epoch(tmp_path):
    history = [{"epoch": 1, "loss": 2.0, "dev_accuracy": 0.5},
               {"epoch": 2, "loss": 1.0, "dev_accuracy": 0.75},
               {"epoch": 3, "loss": 0.5, "dev_accuracy": 0.7}]
    csv_path, svg_path = write_learning_curve(str(tmp_path / "sub" / "model"), history, title="a & b")
    rows = list(csv.DictReader(io.StringIO(Path(csv_path).read_text())))
    assert [(int(r["epoch"]), float(r["loss"]), float(r["dev_accuracy"])) for r in rows] == \
        [(1, 2.0, 0.5), (2, 1.0, 0.75), (3, 0.5, 0.7)]
    text = Path(svg_path).read_text()
    root = ET.fromstring(text)            # well-formed, the title escaped
    assert "a & b" in "".join(root.itertext())
    pts = _points(text)
    assert len(pts) == 3
    xs, ys = zip(*pts)
    assert xs[0] < xs[1] < xs[2]                     # epochs left to right
    assert ys[1] < ys[2] < ys[0]                     # SVG y grows downwards: 75 % highest, 50 % lowest
    # Equal epoch spacing, and y proportional to the accuracy.
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.11)
    assert (ys[0] - ys[1]) / (ys[2] - ys[1]) == pytest.approx(25 / 5, rel=0.02)
    labels = [t.text for t in root.iter(f"{NS}title")]
    assert labels == ["1: 50.00", "2: 75.00", "3: 70.00"]


def test_one_epoch_and_a_flat_curve_still_plot(tmp_path):
    _, svg_path = write_learning_curve(str(tmp_path / "m"), [{"epoch": 1, "dev_accuracy": 0.9}])
    assert len(_points(Path(svg_path).read_text())) == 1
    flat = svg_line_plot([1, 2, 3], [5.0, 5.0, 5.0])
    assert len({y for _, y in _points(flat)}) == 1


def test_bad_history_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="write_learning_curve: history is empty"):
        write_learning_curve(str(tmp_path / "m"), [])
    with pytest.raises(ValueError, match="history entry 1 lacks 'epoch' or 'dev_accuracy'"):
        write_learning_curve(str(tmp_path / "m"), [{"epoch": 1, "dev_accuracy": 0.1}, {"epoch": 2}])
    with pytest.raises(ValueError, match="svg_line_plot: xs and ys need the same, non-zero length; got 2 and 1"):
        svg_line_plot([1, 2], [1.0])
    with pytest.raises(ValueError, match="finite"):
        svg_line_plot([1, 2], [1.0, float("nan")])
