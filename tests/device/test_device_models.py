"""The examples' models train on the emulated device EMU:0 to the same losses
and parameters as on the CPU: the BiLSTM tagger of examples/tagger
(VanillaLSTMBuilder: the fused vanilla_lstm_* kernels, lookup_batch,
pick_batch_elems, concatenate_to_batch) and the Tree-LSTM classifier of
examples/treelstm in its three compositions. Dropout is off: the device draws
its masks from a counter-based hash, the CPU from mt19937."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def cpu_default():
    yield
    dy.init(device="CPU")
    dy.renew_cg()


@pytest.fixture(scope="module")
def tagger_model():
    sys.path.insert(0, str(EXAMPLES / "tagger"))
    try:
        import tagger_model
        yield tagger_model
    finally:
        sys.path.remove(str(EXAMPLES / "tagger"))


@pytest.fixture(scope="module")
def treelstm_train():
    # A name of its own: other example tests import their own "train" module.
    sys.path.insert(0, str(EXAMPLES / "treelstm"))
    try:
        spec = importlib.util.spec_from_file_location("treelstm_train_on_device", EXAMPLES / "treelstm" / "train.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(EXAMPLES / "treelstm"))


WORDS = ["<unk>", "the", "dog", "runs", "a", "cat", "sees", "we", "walk", "."]
TAGS = ["DET", "NOUN", "VERB", "PRON", "PUNCT"]
SENTENCES = [  # (words, tags); equal lengths go into one batch
    (["the", "dog", "runs", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
    (["a", "cat", "sees", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
    (["we", "walk", "."], ["PRON", "VERB", "PUNCT"]),
    (["the", "Cats", "walk", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
]


def train_tagger(tagger_model, device, steps=4):
    dy.init(seed=5, device=device)
    chars = ["<unk>"] + sorted({c for w, _ in SENTENCES for c in "".join(w)})
    pc = dy.ParameterCollection()
    model = tagger_model.BiLSTMCRFTagger(pc, WORDS, chars, TAGS, word_dim=6, char_dim=4, char_hidden=6, hidden=8,
                                         dropout=0.0)
    trainer = dy.AdamTrainer(pc, alpha=0.02)
    batches = [[SENTENCES[0], SENTENCES[1], SENTENCES[3]], [SENTENCES[2]]]
    losses = []
    for step in range(steps):
        batch = batches[step % 2]
        dy.renew_cg()
        em = model.emissions([w for w, _ in batch])
        # The per-position softmax loss (the CRF's forward recursion is not on a device yet).
        loss = dy.esum([dy.sum_batches(dy.pickneglogsoftmax_batch(e, [TAGS.index(t[k]) for _, t in batch]))
                        for k, e in enumerate(em)])
        assert loss.device() == device
        losses.append(loss.value())
        loss.backward()
        trainer.update()
    params = [p.as_array() for p in model.pc.parameters_list()]
    params += [p.as_array() for p in model.pc.lookup_parameters_list()]
    return np.array(losses), params


def test_bilstm_tagger_trains_the_same_on_emu_and_cpu(tagger_model):
    assert {"vanilla_lstm_gates", "vanilla_lstm_c", "vanilla_lstm_h", "pick_batch_elems",
            "concatenate_to_batch"} <= set(_core.device_op_names("EMU:0").split())
    cpu_losses, cpu_params = train_tagger(tagger_model, "CPU")
    emu_losses, emu_params = train_tagger(tagger_model, "EMU:0")
    assert cpu_losses[2] < cpu_losses[0]  # it learns
    np.testing.assert_allclose(emu_losses, cpu_losses, rtol=1e-4, atol=1e-5)
    assert len(emu_params) == len(cpu_params) > 8
    for a, b in zip(emu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def train_treelstm(train, composition, device, steps=6):
    dy.init(seed=7, device=device)
    args = train.parse_args(["--train-size", str(steps), "--dev-size", "1", "--test-size", "1", "--max-depth", "2",
                             "--max-args", "3", "--hidden-dim", "8", "--emb-dim", "6", "--composition", composition,
                             "--quiet"])
    examples, _, _ = train.prepare_data(args)
    pc = dy.ParameterCollection()
    model = train.build_model(pc, args)
    trainer = dy.AdamTrainer(pc, alpha=0.02)
    losses = []
    for ex in examples:
        dy.renew_cg()
        loss = train.loss_fn(model, ex)
        assert loss.device() == device
        losses.append(loss.value())
        loss.backward()
        trainer.update()
    params = [p.as_array() for p in pc.parameters_list()] + [p.as_array() for p in pc.lookup_parameters_list()]
    return np.array(losses), params


@pytest.mark.parametrize("composition", ["chain", "nary", "childsum"])
def test_example_treelstm_trains_the_same_on_emu_and_cpu(treelstm_train, composition):
    cpu_losses, cpu_params = train_treelstm(treelstm_train, composition, "CPU")
    emu_losses, emu_params = train_treelstm(treelstm_train, composition, "EMU:0")
    np.testing.assert_allclose(emu_losses, cpu_losses, rtol=1e-4, atol=1e-5)
    assert len(emu_params) == len(cpu_params) >= 3
    for a, b in zip(emu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
