"""Smoke test of examples/graphlstm: tiny CoNLL-U files, seconds of training, reload."""
import importlib.util
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dynagraph as dy
from conftest import SHARED_DATA

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "graphlstm" / "train.py"


@pytest.fixture(scope="module")
def train_module():
    # A unique module name: other examples also have a train.py.
    spec = importlib.util.spec_from_file_location("graphlstm_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def toy_sentence(rng):
    """A random tree over random words; a word's label names its head's word,
    so it can be read off the dependency edges but not off the word order."""
    n = rng.randint(4, 8)
    forms = [rng.choice("abcdef") for _ in range(n)]
    root = rng.randrange(n)
    heads, labels = [], []
    for i in range(n):
        if i == root:
            heads.append(0)
            labels.append("root")
        else:
            h = rng.choice([j for j in range(n) if j != i])
            heads.append(h + 1)
            labels.append("dep:a" if forms[h] in "abc" else "mod")
    return forms, heads, labels


def write_toy(folder: Path, sizes=(300, 60, 80), seed=0):
    rng = random.Random(seed)
    for split, size in zip(("train", "dev", "test"), sizes):
        lines = []
        for k in range(size):
            forms, heads, labels = toy_sentence(rng)
            lines.append(f"# sent_id = {split}-{k}")
            for i, (f, h, lab) in enumerate(zip(forms, heads, labels), start=1):
                lines.append(f"{i}\t{f}\t{f}\tX\t_\t_\t{h}\t{lab}\t_\t_")
            lines.append("")
        (folder / f"toy-ud-{split}.conllu").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def toy_args(train_module, tmp_path, model, *extra):
    return train_module.parse_args([
        "--model", model, "--data-dir", str(tmp_path), "--epochs", "4", "--word-dim", "8", "--tag-dim", "2",
        "--hidden-dim", "16", "--mlp-dim", "16", "--dropout", "0", "--lr", "0.01", "--batch-size", "4",
        "--min-count", "1", "--quiet", "--model-out", str(tmp_path / model), *extra])


def test_dependency_edges_are_used_and_reload_is_exact(train_module, tmp_path):
    write_toy(tmp_path)
    graph = train_module.train(toy_args(train_module, tmp_path, "graph"))
    bilstm = train_module.train(toy_args(train_module, tmp_path, "bilstm"))
    # The universal part of "dep:a" is "dep": three labels; the head's word decides between two of them.
    assert graph["num_labels"] == 3
    assert len(graph["history"]) == 4 and graph["train_words_per_s"] > 0
    # Only the Graph-LSTM sees the heads: it must get well ahead of the BiLSTM.
    assert graph["test_accuracy"] > 0.85, graph
    assert graph["test_accuracy"] > bilstm["test_accuracy"] + 0.1, (graph, bilstm)
    # --eval-only reloads the saved model: same figure, same predictions.
    reloaded = train_module.train(toy_args(train_module, tmp_path, "graph", "--eval-only"))
    assert reloaded["model"] == "graph" and reloaded["test_accuracy"] == graph["test_accuracy"]
    test_set = train_module.load_split(tmp_path / "toy-ud-test.conllu")
    pc = dy.ParameterCollection()
    model = dy.load(str(tmp_path / "graph"), pc)[0]
    first = train_module.predict(model, test_set)
    pc2 = dy.ParameterCollection()
    again = train_module.predict(dy.load(str(tmp_path / "graph"), pc2)[0], test_set, batch_size=1)
    assert first == again and len(first) == len(test_set)


def test_command_line(tmp_path):
    """The script as users run it: exit 0 and the report lines (dynagraph under test, any cwd)."""
    write_toy(tmp_path, sizes=(40, 10, 10))
    env = dict(os.environ, PYTHONPATH=str(Path(dy.__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, str(SCRIPT), "--model", "bilstm", "--data-dir", str(tmp_path),
                          "--epochs", "1", "--hidden-dim", "8", "--word-dim", "8", "--tag-dim", "2",
                          "--mlp-dim", "8", "--quiet", "--model-out", str(tmp_path / "m")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    acc = float(re.search(r"test deprel accuracy: ([\d.]+)% on (\d+) words", out.stdout).group(1))
    assert 0.0 <= acc <= 100.0
    assert re.search(r"epoch 1: loss/word [\d.]+  dev acc [\d.]+  \d+ words/s", out.stdout)
    assert len(list(tmp_path.glob("m.data.*"))) == 1 and (tmp_path / "m.meta").exists()


def test_edges_and_labels(train_module):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from deprel_tagger import sentence_edges
    finally:
        sys.path.remove(str(SCRIPT.parent))
    # "She reads books": heads 2, 0, 2
    assert sorted(sentence_edges([2, 0, 2], graph=False)) == [(0, 1, 0), (1, 0, 1), (1, 2, 0), (2, 1, 1)]
    assert sorted(sentence_edges([2, 0, 2])) == sorted(
        [(0, 1, 0), (1, 2, 0), (1, 0, 1), (2, 1, 1), (1, 0, 2), (0, 1, 3), (1, 2, 2), (2, 1, 3)])
    assert train_module.universal("nmod:poss") == "nmod" and train_module.universal("punct") == "punct"


def test_first_ewt_sentences(train_module, tmp_path):
    ewt = SHARED_DATA / "ud_ewt"
    if not (ewt / "en_ewt-ud-train.conllu").exists():
        pytest.skip(f"shared dataset {ewt} not available")
    args = train_module.parse_args(["--data-dir", str(ewt), "--train-size", "150", "--dev-size", "30",
                                    "--test-size", "30", "--epochs", "2", "--lr", "0.01", "--hidden-dim", "16",
                                    "--word-dim", "16", "--quiet", "--model-out", str(tmp_path / "ewt")])
    r = train_module.train(args)
    # ~0.6 after these two short epochs; the most frequent relation (punct) is ~0.12 of the words
    assert r["train_sentences"] == 150 and 0.3 < r["test_accuracy"] <= 1.0, r


def test_help(train_module, capsys):
    with pytest.raises(SystemExit) as exc:
        train_module.parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--model {graph,bilstm}" in out and "--eval-only" in out
