"""Smoke test of examples/treelstm: trains in seconds, learns, reloads."""
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "treelstm"


@pytest.fixture(scope="module")
def train_module():
    sys.path.insert(0, str(EXAMPLE))
    try:
        import train
        yield train
    finally:
        sys.path.remove(str(EXAMPLE))


def small_args(train_module, tmp_path, *extra):
    return train_module.parse_args([
        "--train-size", "600", "--dev-size", "200", "--test-size", "300", "--max-depth", "1", "--max-args", "2",
        "--epochs", "4", "--hidden-dim", "32", "--emb-dim", "16", "--lr", "0.01", "--batch-size", "1",
        "--quiet", "--model-out", str(tmp_path / "model"), *extra])


@pytest.mark.parametrize("composition", ["chain", "nary", "childsum"])
def test_learns_and_reloads(train_module, tmp_path, composition):
    args = small_args(train_module, tmp_path, "--composition", composition)
    results = train_module.train(args)
    # depth-1 expressions over 2 digits: chance is 10%
    assert results["test_accuracy"] > 0.3, results
    assert results["train_sentences_per_s"] > 0 and len(results["history"]) == 4
    assert len(list(tmp_path.glob("model.data.*"))) == 1 and (tmp_path / "model.meta").exists()
    reloaded = train_module.train(small_args(train_module, tmp_path, "--composition", composition, "--eval-only"))
    assert reloaded["test_accuracy"] == results["test_accuracy"]


def test_loss_fn_and_build_model_are_reusable(train_module):
    import dynagraph as dy
    args = train_module.parse_args(["--train-size", "5", "--dev-size", "1", "--test-size", "1", "--quiet"])
    train_set, _, _ = train_module.prepare_data(args)
    pc = dy.ParameterCollection()
    model = train_module.build_model(pc, args)
    dy.renew_cg()
    loss = train_module.loss_fn(model, train_set[0])
    assert loss.dim() == ((1,), 1) and loss.value() > 0


def test_help(train_module, capsys):
    with pytest.raises(SystemExit) as exc:
        train_module.parse_args(["--help"])
    assert exc.value.code == 0
    assert "--model-out" in capsys.readouterr().out


def test_init_from_continues_a_saved_model(train_module, tmp_path):
    """--init-from (the curriculum for --full) starts from the saved parameters, not fresh ones."""
    first = train_module.train(small_args(train_module, tmp_path))
    assert first["test_accuracy"] > 0.3
    args = small_args(train_module, tmp_path, "--init-from", str(tmp_path / "model"), "--epochs", "1",
                      "--lr", "1e-9")
    args.model_out = str(tmp_path / "continued")
    continued = train_module.train(args)
    assert continued["test_accuracy"] == pytest.approx(first["test_accuracy"], abs=0.01)


def test_full_runs_a_shallower_warmup_first(train_module, tmp_path, capsys):
    args = small_args(train_module, tmp_path, "--full", "--warmup-epochs", "1", "--max-depth", "2",
                      "--train-size", "300", "--epochs", "1")
    results = train_module.train(args)
    out = capsys.readouterr().out
    assert "warm-up: 1 epochs on depth-1 ListOps" in out
    assert len(list(tmp_path.glob("model.warmup.data.*"))) == 1
    assert args.init_from == str(tmp_path / "model.warmup")
    assert 0.0 <= results["test_accuracy"] <= 1.0 and len(results["history"]) == 1
