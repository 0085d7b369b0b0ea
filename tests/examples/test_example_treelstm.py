"""Smoke test of examples/treelstm: trains in seconds, learns, reloads."""
import csv
import io
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "treelstm"


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


def test_outputs_are_per_data_set_by_default(train_module):
    assert train_module.parse_args([]).model_out == os.path.join("runs", "treelstm", "listops", "model")
    assert train_module.parse_args(["--full"]).model_out == os.path.join("runs", "treelstm", "listops-full", "model")
    assert train_module.parse_args(["--data", "sst"]).model_out == os.path.join("runs", "treelstm", "sst", "model")


def test_run_card_and_learning_curve_beside_the_model(train_module, tmp_path):
    results = train_module.train(small_args(train_module, tmp_path, "--seed", "7", "--epochs", "3"))
    card = json.loads((tmp_path / "model.run.json").read_text())
    assert card["data"] == "listops" and card["seed"] == 7 and card["options"]["epochs"] == 3
    assert [h["dev_accuracy"] for h in card["history"]] == [h["dev_accuracy"] for h in results["history"]]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "model.curve.csv").read_text())))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["dev_accuracy"]) for r in rows] == [h["dev_accuracy"] for h in results["history"]]
    svg = ET.parse(tmp_path / "model.curve.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f"{ns}circle")) == 3 and len(svg.findall(f"{ns}polyline")) == 1
    assert "seed 7" in "".join(svg.itertext())


def test_eval_only_refuses_a_model_of_another_data_set(train_module, tmp_path):
    train_module.train(small_args(train_module, tmp_path, "--epochs", "1"))
    args = small_args(train_module, tmp_path, "--eval-only", "--full")
    with pytest.raises(SystemExit, match="trained on listops, not listops-full"):
        train_module.train(args)


def test_eval_only_checks_the_vocabulary_of_a_model_without_run_card(train_module, tmp_path):
    """An SST model saved without its .run.json (an older run) is still refused for ListOps."""
    import dynagraph as dy
    pc = dy.ParameterCollection()
    sst_like = train_module.parse_args(["--data", "sst", "--emb-dim", "4", "--hidden-dim", "4"])
    sst_like.tokens, sst_like.num_classes = ["<unk>", "good", "bad"], 5
    dy.save(str(tmp_path / "model"), [train_module.build_model(pc, sst_like)])
    with pytest.raises(SystemExit, match="3 tokens and 5 classes; listops has 15 and 10"):
        train_module.train(small_args(train_module, tmp_path, "--eval-only"))


def test_main_prints_the_seed_and_expressions_per_second(train_module, tmp_path, capsys):
    argv = ["--train-size", "100", "--dev-size", "20", "--test-size", "20", "--max-depth", "1", "--epochs", "1",
            "--hidden-dim", "8", "--emb-dim", "4", "--quiet", "--seed", "5", "--model-out", str(tmp_path / "m")]
    train_module.main(argv)
    out = capsys.readouterr().out
    assert "seed 5" in out and "expressions/s" in out and "sentences/s" not in out
    assert f"learning curve: {tmp_path / 'm'}.curve.svg" in out
