"""The benchmarks' plot helper: a missing matplotlib (an optional extra) skips the
plot with a message instead of failing a finished run at its last line."""
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _common():
    spec = importlib.util.spec_from_file_location("bench_common_under_test", REPO / "benchmarks" / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plot_without_matplotlib_returns_false_and_says_so(tmp_path, monkeypatch, capsys):
    common = _common()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    out = tmp_path / "rates.png"
    assert common.plot_throughput({"a": {1: 1.0, 2: 2.0}}, out, xlabel="x", ylabel="y", title="t") is False
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not out.exists()
