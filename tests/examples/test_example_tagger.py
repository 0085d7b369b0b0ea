"""Smoke test of examples/tagger: a toy CoNLL-U treebank in tmp_path, seconds of training."""
import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import dynagraph as dy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tagger"

# A tiny grammar: "run"/"walk" are NOUN after a determiner and VERB after a pronoun,
# so context matters; nouns of the test split are unseen words ending in "-tion".
LEXICON = {"DET": ["the", "a", "this"], "ADJ": ["big", "small", "red", "old"],
           "NOUN": ["dog", "cat", "house", "tree", "idea"], "VERB": ["sees", "likes", "eats"],
           "PRON": ["we", "they", "you"], "ADP": ["in", "on", "near"]}
AMBIGUOUS = ["run", "walk"]
UNSEEN_NOUNS = ["station", "nation", "motion", "lotion"]


def toy_sentence(rng, nouns):
    def np_():
        out = [(rng.choice(LEXICON["DET"]), "DET")]
        if rng.random() < 0.5:
            out.append((rng.choice(LEXICON["ADJ"]), "ADJ"))
        return out + [(rng.choice(nouns + AMBIGUOUS), "NOUN")]
    if rng.random() < 0.5:
        sent = np_() + [(rng.choice(LEXICON["VERB"]), "VERB")] + np_()
    else:
        sent = [(rng.choice(LEXICON["PRON"]), "PRON"), (rng.choice(AMBIGUOUS + LEXICON["VERB"]), "VERB")] + np_()
    if rng.random() < 0.4:
        sent += [(rng.choice(LEXICON["ADP"]), "ADP")] + np_()
    return sent + [(".", "PUNCT")]


def write_conllu(path, n, seed, nouns):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for k in range(n):
            f.write(f"# sent_id = toy-{k}\n")
            for i, (word, tag) in enumerate(toy_sentence(rng, nouns), start=1):
                f.write(f"{i}\t{word}\t{word}\t{tag}\t_\t_\t0\tdep\t_\t_\n")
            f.write("\n")


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy_ud")
    write_conllu(d / "toy-train.conllu", 300, 1, LEXICON["NOUN"])
    write_conllu(d / "toy-dev.conllu", 40, 2, LEXICON["NOUN"])
    write_conllu(d / "toy-test.conllu", 60, 3, UNSEEN_NOUNS)
    return d


@pytest.fixture(scope="module")
def train_module():
    # A name of its own: other example tests import their own "train" module.
    spec = importlib.util.spec_from_file_location("tagger_train", EXAMPLE / "train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def toy_argv(toy_dir, model_out, *extra):
    return ["--data-dir", str(toy_dir), "--prefix", "toy", "--word-dim", "16", "--char-dim", "8",
            "--char-hidden", "16", "--hidden", "32", "--epochs", "3", "--batch-size", "8", "--lr", "0.01",
            "--quiet", "--model-out", str(model_out), *extra]


@pytest.mark.parametrize("batching", ["length", "auto"])
def test_learns_toy_tags_and_reloads(train_module, toy_dir, tmp_path, batching):
    results = train_module.train(train_module.parse_args(toy_argv(toy_dir, tmp_path / "m", "--batching", batching)))
    # 7 tags, the most frequent (NOUN) is ~30% of the tokens; the test nouns are unseen words.
    assert results["test_accuracy"] > 0.8, results["history"]
    assert len(results["history"]) == 3 and results["train_tokens_per_s"] > 0
    assert len(list(tmp_path.glob("m.data.*"))) == 1 and (tmp_path / "m.meta").exists()
    reloaded = train_module.train(train_module.parse_args(toy_argv(toy_dir, tmp_path / "m", "--eval-only")))
    assert reloaded["test_predictions"] == results["test_predictions"]
    assert reloaded["test_accuracy"] == results["test_accuracy"]


def test_batched_emissions_equal_per_sentence(train_module, toy_dir):
    """A batch of equal-length sentences scores each one as it is scored alone."""
    import numpy as np
    args = train_module.parse_args(toy_argv(toy_dir, "unused", "--dropout", "0"))
    train_set, _, _ = train_module.prepare_data(args)
    pc = dy.ParameterCollection()
    model = train_module.build_model(pc, args, train_set)
    same = [ex.words for ex in train_set if len(ex.words) == len(train_set[0].words)][:4]
    assert len(same) > 1
    dy.renew_cg()
    batched = np.stack([e.npvalue() for e in model.emissions(same)])          # (T, K, B)
    for b, words in enumerate(same):
        dy.renew_cg()
        alone = np.stack([e.npvalue() for e in model.emissions([words])])
        np.testing.assert_allclose(batched[:, :, b], alone.reshape(batched.shape[:2]), rtol=1e-5, atol=1e-6)


def test_command_line_run(toy_dir, tmp_path):
    """The script as a program: exits 0 and prints the report (the dynagraph under test is imported)."""
    env = dict(os.environ, PYTHONPATH=str(Path(dy.__file__).resolve().parents[1]))
    argv = toy_argv(toy_dir, tmp_path / "m", "--epochs", "1")
    p = subprocess.run([sys.executable, str(EXAMPLE / "train.py"), *argv], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "test UPOS accuracy:" in p.stdout and "tokens/s" in p.stdout


def test_help(train_module, capsys):
    with pytest.raises(SystemExit) as exc:
        train_module.parse_args(["--help"])
    assert exc.value.code == 0
    assert "--data-dir" in capsys.readouterr().out
