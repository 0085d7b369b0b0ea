"""Smoke test of examples/cnn/train.py: a few seconds of training on a slice of the digits."""
import importlib.util
from pathlib import Path

import pytest

import dynagraph as dy

pytest.importorskip("sklearn", reason="the CNN example reads scikit-learn's digits (pip install scikit-learn)")
if not all(hasattr(dy, name) for name in ("conv2d_bias", "maxpooling2d")):
    pytest.skip("dynagraph has no conv2d_bias/maxpooling2d yet (the convolution ops are not merged)",
                allow_module_level=True)

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "cnn" / "train.py"


def _load():
    spec = importlib.util.spec_from_file_location("cnn_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cnn_trains_and_reports(capsys):
    cnn = _load()
    results = cnn.main(["--epochs", "5", "--limit", "500", "--filters", "4", "8", "--hidden", "32", "--lr", "0.01",
                        "--dropout", "0", "--quiet"])
    r = results["dynagraph"]
    assert len(r["epoch_times"]) == 5 and r["train_size"] == 500
    assert r["losses"][-1] < 0.9 * r["losses"][0]   # it learns
    assert r["accuracy"] > 0.3                       # well above chance (0.1) after 5 short epochs
    out = capsys.readouterr().out
    assert "s/epoch" in out and "dynagraph" in out


def test_cnn_help():
    cnn = _load()
    with pytest.raises(SystemExit) as exit_info:
        cnn.parse_args(["--help"])
    assert exit_info.value.code == 0


def test_augment_shifts_within_bounds():
    import numpy as np
    cnn = _load()
    images = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    moved = cnn.augment(images, 1, np.random.default_rng(1))
    assert moved.shape == images.shape
    assert np.all(moved.sum(axis=(1, 2)) <= images.sum(axis=(1, 2)) + 1e-5)  # pixels only leave the frame
    assert cnn.augment(images, 0, None) is images
