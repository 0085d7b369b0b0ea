"""dynagraph.training: KeepBest keeps and restores the best epoch's parameters; HelpFormatter."""
import argparse
import math

import numpy as np
import pytest

import dynagraph as dy
from dynagraph.training import HelpFormatter, KeepBest


class Model:
    """A parameter, a lookup table and a subcollection's parameter, as a model has."""

    def __init__(self, pc):
        self.W = pc.add_parameters((3, 4))
        self.E = pc.add_lookup_parameters((5, 2))
        self.b = pc.add_subcollection("sub").add_parameters((3,))

    def values(self):
        return [self.W.as_array(), self.E.as_array(), self.b.as_array()]

    def perturb(self, rng):
        """What an epoch of training does, as far as KeepBest can tell."""
        self.W.set_value(rng.standard_normal((3, 4)).astype(np.float32))
        self.E.init_from_array(rng.standard_normal((5, 2)).astype(np.float32))
        self.b.set_value(rng.standard_normal(3).astype(np.float32))


@pytest.fixture
def model():
    dy.init(seed=1)
    pc = dy.ParameterCollection()
    return pc, Model(pc)


def run_epochs(pc, m, keep, scores, seed=0):
    """Perturbs the parameters and scores them once per score; returns each epoch's values."""
    rng = np.random.default_rng(seed)
    snapshots, improved = [], []
    for score in scores:
        m.perturb(rng)
        snapshots.append(m.values())
        improved.append(keep.update(score))
    return snapshots, improved


def assert_same(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)   # bit for bit, not approximately


def test_keeps_the_highest_score_and_restores_it_exactly(model, tmp_path):
    pc, m = model
    keep = KeepBest(pc, tmp_path / "ck")
    snapshots, improved = run_epochs(pc, m, keep, [0.50, 0.70, 0.60, 0.65])
    assert improved == [True, True, False, False]
    assert (keep.best, keep.best_update, keep.updates, keep.since_best) == (0.70, 2, 4, 2)
    assert not np.array_equal(m.values()[0], snapshots[1][0])    # the last epoch's values are in pc
    assert keep.restore() == 0.70
    assert_same(m.values(), snapshots[1])
    assert not (tmp_path / "ck").exists()                         # the checkpoint is gone


def test_restore_is_in_place_so_expressions_use_the_best_values(model, tmp_path):
    pc, m = model
    keep = KeepBest(pc, tmp_path / "ck")
    snapshots, _ = run_epochs(pc, m, keep, [0.9, 0.1])
    keep.restore()
    dy.renew_cg()
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_allclose(dy.parameter(m.W).npvalue() @ x, snapshots[0][0] @ x, rtol=1e-6)


def test_lower_is_better_for_perplexities(model, tmp_path):
    pc, m = model
    keep = KeepBest(pc, tmp_path / "ck", higher_is_better=False)
    snapshots, improved = run_epochs(pc, m, keep, [120.0, 95.5, 101.0, 95.0])
    assert improved == [True, True, False, True]
    assert keep.restore() == 95.0
    assert_same(m.values(), snapshots[3])


def test_a_tie_keeps_the_earlier_parameters(model, tmp_path):
    pc, m = model
    keep = KeepBest(pc, tmp_path / "ck")
    snapshots, improved = run_epochs(pc, m, keep, [0.8, 0.8, 0.8])
    assert improved == [True, False, False] and keep.best_update == 1 and keep.since_best == 2
    keep.restore()
    assert_same(m.values(), snapshots[0])


def test_first_score_always_counts_even_a_bad_one(model, tmp_path):
    pc, m = model
    for higher, score in ((True, 0.0), (False, math.inf)):
        keep = KeepBest(pc, tmp_path / f"ck{higher}", higher_is_better=higher)
        assert keep.best is None and keep.is_better(score)
        assert keep.update(score) and (tmp_path / f"ck{higher}").exists()
        assert keep.restore() == score


def test_nan_never_counts_and_restore_without_a_checkpoint_raises(model, tmp_path):
    pc, m = model
    keep = KeepBest(pc, tmp_path / "ck")
    assert keep.update(float("nan")) is False and keep.best is None and keep.since_best == 1
    with pytest.raises(RuntimeError, match="no checkpoint"):
        keep.restore()
    snapshots, improved = run_epochs(pc, m, keep, [0.3, float("nan")])
    assert improved == [True, False] and keep.best == 0.3
    keep.restore()
    assert_same(m.values(), snapshots[0])
    with pytest.raises(RuntimeError, match="no checkpoint"):   # restore runs once
        keep.restore()


def test_makes_the_checkpoint_folder_and_leaves_no_temporary_file(model, tmp_path):
    pc, _ = model
    path = tmp_path / "a" / "b" / "model.best"
    keep = KeepBest(pc, path)
    assert path.parent.is_dir()
    keep.update(1.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.best"]


def test_help_formatter_hides_only_none_defaults(capsys):
    p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=int, default=8, help="passes")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: per trainer)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    text = p.format_help()
    assert "passes (default: 8)" in text
    assert "learning rate (default: per trainer)\n" in text and "None" not in text
    assert "no progress bars (default: False)" in text
