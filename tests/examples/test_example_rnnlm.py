"""Smoke test of examples/rnnlm: masking is exact, a toy corpus is learnt in
seconds, the saved model reloads to the same perplexity, and the script runs
from another directory."""
import importlib.util
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "rnnlm"
# The shared data next to the repository (override with $DYNAGRAPH_PTB_DIR).
PTB = Path(os.environ.get("DYNAGRAPH_PTB_DIR", REPO.parent / "shared" / "data" / "ptb"))


@pytest.fixture(scope="module")
def train_module():
    """examples/rnnlm/train.py as module ``rnnlm_train``, with its ``model`` module
    importable as ``model`` (dy.load finds the class there) while these tests run;
    the other examples' ``train``/``model`` modules are put back afterwards."""
    saved = {name: sys.modules.pop(name) for name in ("model",) if name in sys.modules}
    path = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("rnnlm_train", EXAMPLE / "train.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path[:] = path
        sys.modules.pop("model", None)
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    """ptb.{train,valid,test}.txt of a repetitive toy language (12 words + <eos>, <unk>)."""
    rng = random.Random(0)
    subjects, verbs, objects = ["the cat", "a dog", "my bird"], ["sees", "likes", "eats"], ["fish", "seeds", "food"]

    def sentences(n):
        return [f" {rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} \n" for _ in range(n)]

    folder = tmp_path_factory.mktemp("toy_ptb")
    for name, n in (("ptb.train.txt", 300), ("ptb.valid.txt", 40), ("ptb.test.txt", 40)):
        (folder / name).write_text("".join(sentences(n)))
    return folder


def toy_args(train_module, toy_dir, tmp_path, *extra):
    return train_module.parse_args([
        "--data-dir", str(toy_dir), "--emb-dim", "16", "--hidden-dim", "24", "--batch-size", "8",
        "--lr", "0.02", "--epochs", "2", "--quiet", "--model-out", str(tmp_path / "model"), *extra])


@pytest.mark.parametrize("softmax", [[], ["--softmax-once"]], ids=["per-step", "once"])
def test_learns_and_reloads(train_module, toy_dir, tmp_path, softmax):
    results = train_module.train(toy_args(train_module, toy_dir, tmp_path, *softmax))
    uniform = results["vocab_size"]  # perplexity of the uniform distribution over the vocabulary
    assert len(results["history"]) == 2 and results["train_words_per_s"] > 0
    # 27 equally likely 6-token sentences: the best model reaches 27 ** (1/6) = 1.73; uniform is 14.
    assert results["test_perplexity"] < 3.0 < uniform, results
    assert results["history"][-1]["valid_perplexity"] < results["history"][0]["valid_perplexity"] * 1.05
    assert len(list(tmp_path.glob("model.data.*"))) == 1 and (tmp_path / "model.meta").exists()
    reloaded = train_module.train(toy_args(train_module, toy_dir, tmp_path, "--eval-only", *softmax))
    assert reloaded["test_perplexity"] == pytest.approx(results["test_perplexity"], rel=1e-6)
    assert reloaded["valid_perplexity"] == pytest.approx(results["best_valid_perplexity"], rel=1e-6)


@pytest.mark.parametrize("trainer", ["sgd", "momentum", "adagrad"])
def test_other_trainers_learn(train_module, toy_dir, tmp_path, trainer):
    args = toy_args(train_module, toy_dir, tmp_path, "--trainer", trainer, "--lr", "0.5", "--epochs", "3")
    results = train_module.train(args)
    assert results["test_perplexity"] < results["vocab_size"] / 2, results


def test_masked_batch_equals_sentences_one_by_one(train_module):
    import dynagraph as dy
    args = train_module.parse_args(["--emb-dim", "8", "--hidden-dim", "12"])
    pc = dy.ParameterCollection()
    model = train_module.build_model(pc, args, ["<eos>", "<unk>", "a", "b", "c"])
    sents = [[2, 3, 4, 2, 0], [3, 3, 0], [4, 0], [2, 4, 3, 0]]
    dy.renew_cg()
    loss, words = model.batch_loss(sents)
    assert loss.dim() == ((1,), 1) and words == sum(len(s) for s in sents)
    batched = loss.value()
    one_by_one = 0.0
    for s in sents:
        dy.renew_cg()
        one_by_one += model.batch_loss([s])[0].value()
    assert batched == pytest.approx(one_by_one, rel=1e-5)
    # Untrained, every word is close to uniform over the 5 tokens.
    assert batched / words == pytest.approx(math.log(5), rel=0.1)
    # One softmax over all steps: the same loss and gradient.
    model.softmax_once = True
    dy.renew_cg()
    once = model.batch_loss(sents)[0]
    assert once.value() == pytest.approx(batched, rel=1e-5)
    once.backward()
    g_once = model.W.grad_as_array().copy()
    model.softmax_once = False
    dy.renew_cg()
    model.batch_loss(sents)[0].backward()
    g_per_step = model.W.grad_as_array() - g_once  # gradients accumulate until a trainer update
    np.testing.assert_allclose(g_once, g_per_step, rtol=1e-4, atol=1e-6)


def test_make_batches_groups_by_length(train_module):
    sents = [[0] * n for n in (3, 9, 1, 7, 7, 2, 5)]
    batches = train_module.make_batches(sents, 3)
    assert [[len(s) for s in b] for b in batches] == [[9, 7, 7], [5, 3, 2], [1]]


@pytest.mark.skipif(not PTB.is_dir(), reason=f"PTB not found at {PTB}")
def test_script_on_ptb_head(tmp_path):
    """The script itself, run from another directory on 300 PTB sentences, 1 epoch."""
    import dynagraph
    # The dynagraph under test (installed or in-tree), whatever the working directory holds.
    root = os.path.dirname(os.path.dirname(os.path.abspath(dynagraph.__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    cmd = [sys.executable, str(EXAMPLE / "train.py"), "--data-dir", str(PTB), "--max-train-sentences", "300",
           "--emb-dim", "16", "--hidden-dim", "16", "--eval-batch-size", "512", "--epochs", "1", "--quiet",
           "--model-out", str(tmp_path / "m")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "test perplexity:" in out.stdout and "words/s" in out.stdout
    ppl = float(out.stdout.split("test perplexity:")[1].split()[0])
    assert 1.0 < ppl < 10000 * 1.5, out.stdout


def test_help(train_module, capsys):
    with pytest.raises(SystemExit) as exc:
        train_module.parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--data-dir" in out and "--eval-only" in out
