"""DyNet's tutorials (examples/jupyter-tutorials/API.ipynb and RNNs.ipynb in
DyNet's repository), their snippets rewritten as functions that run unchanged
under dynet38 and dynagraph; every value they compute must agree."""
import numpy as np
import pytest

import dynagraph as dg

dy = pytest.importorskip("dynet")

pytestmark = pytest.mark.compare

_KEEP = []


def tutorial(m) -> dict:
    """The tutorial's deterministic results, by snippet."""
    out = {}
    m.renew_cg()
    v = m.vecInput(3)
    v.set([1, 2, 3])
    out["scalar"] = m.scalarInput(5.0).scalar_value()
    out["vecInput.set"] = v.vec_value()
    out["row-major list"] = m.inputTensor([[1, 2], [3, 4]]).npvalue()
    out["zeros batch"] = (m.zeros(5, batch_size=3).dim(), m.zeros(5, batch_size=3).npvalue())
    out["ones batch"] = m.ones(5, batch_size=3).npvalue()
    out["constant batch"] = m.constant(5, 2, batch_size=3).npvalue()
    out["random dims"] = [m.random_normal(5, mean=0, stddev=1.0, batch_size=3).dim(),
                          m.random_bernoulli(5, p=0.3, scale=2.0, batch_size=3).dim(),
                          m.random_uniform(5, left=-1, right=1, batch_size=3).dim()]
    pc = m.ParameterCollection()
    _KEEP.append(pc)
    shapes = [pc.add_parameters((3, 5), init=0).as_array(), pc.add_parameters((5, 5), init="identity").as_array(),
              pc.add_parameters((3, 5), np.ones((3, 5))).as_array()]
    out["parameter inits"] = shapes
    out["init shapes"] = [pc.add_parameters((3, 5), init=i).shape() for i in ("uniform", "normal", "glorot", "he")]
    lp = pc.lookup_parameters_from_numpy(np.arange(100 * 10, dtype=float).reshape(100, 10))
    e5 = lp[5]
    out["lookup_batch dims"] = [m.lookup_batch(lp, [4, 5]).dim(), lp.batch(range(10)).dim()]
    e5.set(10)
    out["lookup set"] = (e5.dim(), e5.npvalue(), bool(np.all(e5.npvalue() == lp[10].npvalue())))
    e1, e2 = m.vecInput(4), m.vecInput(4)
    e1.set([1, 2, 3, 4])
    e2.set([5, 6, 7, 8])
    mat1 = m.inputTensor(np.array([[1, 2], [3, 4], [5, 6], [7, 8]]))
    mat2 = m.inputTensor(np.array([[1, 0], [0, 1]]))
    out["concatenate_to_batch"] = m.concatenate_to_batch([e1, e2]).npvalue()
    ops = {
        "add": e1 + e2, "sub": e2 - e1, "neg": -e1, "outer": e1 * m.transpose(e1), "matmul": mat1 * mat2,
        "dot": m.dot_product(e1, e2), "cmult": m.cmult(e1, e2), "cdiv": m.cdiv(e1, e2),
        "colwise_add": m.colwise_add(mat1, e1), "abs": m.abs(e1), "cube": m.cube(e1), "exp": m.exp(e1),
        "pow": m.pow(e1, m.inputTensor([2])), "square": m.square(e1), "bmin": m.bmin(e1, e2),
        "bmax": m.bmax(e1, e2), "sin": m.sin(e1), "tanh": m.tanh(e1), "sqrt": m.sqrt(e1),
        "asinh": m.asinh(e1), "acosh": m.acosh(e1), "reshape": m.reshape(e1, (2, 2)),
        "inverse": m.inverse(m.inputTensor([[1, 3], [3, 1]])), "logdet": m.logdet(m.inputTensor([[1, 0], [0, 2]])),
        "trace_of_product": m.trace_of_product(mat1, mat1), "erf": m.erf(e1), "log": m.log(e1),
        "log_sigmoid": m.log_sigmoid(e1), "lgamma": m.lgamma(e1), "logistic": m.logistic(e1),
        "rectify": m.rectify(e1), "elu": m.elu(e1), "selu": m.selu(e1), "softsign": m.softsign(e1),
        "softmax": m.softmax(e1), "log_softmax": m.log_softmax(e1),
        "log_softmax restrict": m.log_softmax(e1, restrict=[0, 1, 2]),
        "pick": m.pick(e1, 1), "e1[1]": e1[1], "e1[-1]": e1[-1], "mat1[1]": mat1[1],
        "pickrange": m.pickrange(e1, 1, 3), "e1[1:3]": e1[1:3], "e1[:3]": e1[:3], "e1[:]": e1[:],
        "mat pickrange": m.pickrange(mat1, 1, 3), "pickneglogsoftmax": m.pickneglogsoftmax(e1, 1),
        "pnls composed": m.pick(-m.log(m.softmax(e1)), 1), "pnls batch": m.pickneglogsoftmax_batch(e1, [1]),
        "select_rows": m.select_rows(mat1, [0, 1]), "mat1[:2]": mat1[:2], "select_cols": m.select_cols(mat1, [0]),
        "esum": m.esum([e1, e2]), "average": m.average([e1, e2]), "concatenate_cols": m.concatenate_cols([e1, e2]),
        "mat concatenate_cols": m.concatenate_cols([mat1, e2]), "concatenate": m.concatenate([e1, e2]),
        "mat concatenate": m.concatenate([mat2, mat2]), "sum_elems": m.sum_elems(mat1),
        "sum_dim 0": m.sum_dim(mat1, [0]), "sum_dim 1": m.sum_dim(mat1, [1]), "sum_batches": m.sum_batches(e1),
        "cumsum": m.cumsum(mat1, 1), "mean_elems": m.mean_elems(mat1),
        "circ_conv": m.circ_conv(m.inputTensor([1, 2, 1, 0]), m.inputTensor([0, 1, 1, 1])),
        "circ_corr": m.circ_corr(m.inputTensor([1, 2, 1, 0]), m.inputTensor([0, 1, 1, 1])),
    }
    e0 = m.vecInput(2)
    e0.set([-1, 0])
    ops["affine_transform"] = m.affine_transform([e1, mat1, e0])
    for name, e in ops.items():
        out[name] = (e.dim(), e.npvalue())
    return out


def test_the_api_tutorial_computes_the_same_in_both_libraries():
    ref, ours = tutorial(dy), tutorial(dg)
    assert ref.keys() == ours.keys()
    for key in ref:
        assert_same(ours[key], ref[key], key)


def assert_same(ours, ref, where: str) -> None:
    """Equal structure; numbers and arrays equal within float32 rounding."""
    if isinstance(ref, (list, tuple)) and not _numeric(ref):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(ref), where
        for k, (o, r) in enumerate(zip(ours, ref)):
            assert_same(o, r, f"{where}[{k}]")
        return
    if isinstance(ref, (bool, np.bool_)):
        assert bool(ours) == bool(ref), where
        return
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64),
                               rtol=1e-5, atol=1e-6, err_msg=where)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values)


# ---- DyNet's RNN tutorial (examples/jupyter-tutorials/RNNs.ipynb): states, branching
# sequences, and its character language model trained a few steps with the same values.
CHARS = list("abcdefghijklmnopqrstuvwxyz ") + ["<EOS>"]


def char_lm(m):
    pc = m.ParameterCollection()
    models = {}
    for name in ("SimpleRNNBuilder", "LSTMBuilder"):
        rnn = getattr(m, name)(1, 8, 6, pc)
        models[name] = (rnn, pc.add_lookup_parameters((len(CHARS), 8)), pc.add_parameters((len(CHARS), 6)),
                        pc.add_parameters(len(CHARS)))
    _KEEP.append((pc, models))
    return pc, models


def sentence_loss(m, model, sentence):
    rnn, lookup, R, bias = model
    m.renew_cg()
    ids = [CHARS.index(c) for c in ["<EOS>"] + list(sentence) + ["<EOS>"]]
    s, losses = rnn.initial_state(), []
    for char, next_char in zip(ids, ids[1:]):
        s = s.add_input(lookup[char])
        probs = m.softmax(R * s.output() + bias)
        losses.append(-m.log(m.pick(probs, next_char)))
    return m.esum(losses)


def rnn_tutorial(m, pc_values=None) -> dict:
    out = {}
    pc, models = char_lm(m)
    if pc_values is not None:  # DyNet's initial values, in the same order
        for p, v in zip(pc.parameters_list(), pc_values[0]):
            p.set_value(v)
        for p, v in zip(pc.lookup_parameters_list(), pc_values[1]):
            p.init_from_array(v)
    values = ([p.as_array() for p in pc.parameters_list()], [p.as_array() for p in pc.lookup_parameters_list()])
    m.renew_cg()
    lstm = models["LSTMBuilder"][0]
    x1 = m.vecInput(8)
    x1.set(np.linspace(-1, 1, 8).tolist())
    s0 = lstm.initial_state()
    s1 = s0.add_input(x1)
    s3 = s1.add_input(x1).add_input(x1)
    s4, s5 = s3.add_input(x1), s3.add_input(x1)
    s6 = s3.prev().add_input(x1)
    out["branches"] = [len(s1.h()), len(s1.s()), s5.prev() is s3 or s5.prev() == s3, s4.prev() == s3]
    out["states"] = [[e.npvalue() for e in st.s()] for st in (s1, s3, s4, s5, s6)]
    srnn = models["SimpleRNNBuilder"][0]
    states = srnn.initial_state().add_inputs([x1, x1, x1])
    out["add_inputs"] = [st.output().npvalue() for st in states]
    out["transduce"] = [e.npvalue() for e in srnn.initial_state().transduce([x1, x1, x1])]
    trainer = m.SimpleSGDTrainer(pc)
    out["losses"] = []
    for name in ("SimpleRNNBuilder", "LSTMBuilder"):
        for _ in range(3):
            loss = sentence_loss(m, models[name], "a quick brown fox")
            out["losses"].append(loss.value())
            loss.backward()
            trainer.update()
    return out, values


def test_the_rnn_tutorial_computes_and_trains_the_same_in_both_libraries():
    ref, values = rnn_tutorial(dy)
    ours, _ = rnn_tutorial(dg, values)
    assert ref.keys() == ours.keys()
    assert ref["branches"] == ours["branches"] == [1, 2, True, True]
    for key in ("states", "add_inputs", "transduce", "losses"):
        assert_same(ours[key], ref[key], key)
    assert ours["losses"][2] < ours["losses"][0] and ours["losses"][5] < ours["losses"][3]  # it learns
