"""The graph keeps the parameter storage its nodes point into alive (issue 20, item 2).

A ParameterCollection (and every Parameters handle) may be garbage before the
expressions built from it are evaluated or differentiated: values and
gradients must still be right, and nothing may read or write freed memory
(tools/sanitize.sh runs this file under ASan+UBSan).
"""
import gc
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import _core


def _churn_heap():
    """Reuses freed memory, so a dangling pointer would read someone else's values."""
    junk = [np.full(256 * 256, 7.0, dtype=np.float32) for _ in range(8)]
    other = dy.ParameterCollection()
    for _ in range(4):
        other.add_parameters((256, 256), init=dy.ConstInitializer(-3.0))
    return junk, other


def test_issue_reproduction_runs_cleanly_in_a_fresh_process():
    # The issue's exact code ended in "double free or corruption": run it where a crash cannot hide.
    code = textwrap.dedent("""
        import dynagraph as dy
        def make_loss():
            pc = dy.ParameterCollection(); W = pc.add_parameters((256, 256))
            return dy.sum_elems(W * dy.inputVector([1.0] * 256))
        loss = make_loss(); v = loss.value(); loss.backward()
        print("ok", v)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


def _loss_from_a_dead_collection(w0, x):
    """sum(W x) with W = w0, returning the loss and W's node; the collection dies on return."""
    pc = dy.ParameterCollection()
    W = pc.add_parameters(w0.shape)
    W.set_value(w0)
    w_expr = W.expr(update=True)  # an Expression: unlike W (or dy.parameter(W)) it holds no reference
    return dy.sum_elems(w_expr * dy.inputVector(x.tolist())), w_expr


def test_values_and_gradients_survive_the_collection():
    dy.renew_cg()
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((256, 256)).astype(np.float32)
    x = rng.standard_normal(256).astype(np.float32)
    loss, w_expr = _loss_from_a_dead_collection(w0, x)
    gc.collect()
    keep = _churn_heap()
    expected = float((w0.astype(np.float64) @ x.astype(np.float64)).sum())
    assert loss.value() == pytest.approx(expected, rel=1e-4, abs=1e-3)
    loss.backward()
    np.testing.assert_allclose(w_expr.value(), w0)
    # d sum(W x) / dW[i, j] = x[j]
    np.testing.assert_allclose(w_expr.gradient(), np.tile(x, (256, 1)), rtol=1e-6)
    # The other collection's values were not written to by the backward pass.
    for p in keep[1].parameters_list():
        assert np.all(p.as_array() == -3.0)
        assert np.all(p.grad_as_array() == 0.0)
    assert all(np.all(a == 7.0) for a in keep[0])


def test_lookups_and_the_whole_table_survive_the_collection():
    dy.renew_cg()
    table = np.arange(40, dtype=np.float32).reshape(10, 4) / 10.0

    def build():
        pc = dy.ParameterCollection()
        E = pc.add_lookup_parameters((10, 4))
        E.init_from_array(table)
        one = dy.lookup(E, 3)
        batch = dy.lookup_batch(E, [1, 7, 1])
        whole = E.expr(update=True)  # (4, 10): rows as columns
        loss = dy.sum_elems(one) * 2.0 + dy.sum_batches(dy.sum_elems(dy.square(batch))) + dy.sum_elems(whole)
        return loss, one, batch, whole

    loss, one, batch, whole = build()
    gc.collect()
    _churn_heap()
    t = table.astype(np.float64)
    expected = 2.0 * t[3].sum() + (t[[1, 7, 1]] ** 2).sum() + t.sum()
    assert loss.value() == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(one.value(), table[3])
    np.testing.assert_allclose(batch.npvalue(), table[[1, 7, 1]].T)
    np.testing.assert_allclose(whole.value(), table.T)
    loss.backward()
    np.testing.assert_allclose(one.gradient(), np.full(4, 2.0))
    np.testing.assert_allclose(batch.gradient(), 2.0 * table[[1, 7, 1]].T, rtol=1e-6)
    np.testing.assert_allclose(whole.gradient(), np.ones((4, 10)))


def test_a_trainer_keeps_its_collection():
    dy.renew_cg()
    pc = dy.ParameterCollection()
    W = pc.add_parameters((3, 2))
    w0 = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    W.set_value(w0)
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.5)
    del pc
    gc.collect()
    x = np.array([1.0, -2.0], dtype=np.float32)
    loss = dy.sum_elems(dy.parameter(W) * dy.inputVector(x.tolist()))
    loss.backward()
    trainer.update()
    np.testing.assert_allclose(W.as_array(), w0 - 0.5 * np.tile(x, (3, 1)))


def test_a_stale_expression_of_a_dead_collection_raises():
    dy.renew_cg()
    loss, w_expr = _loss_from_a_dead_collection(np.ones((4, 4), np.float32), np.ones(4, np.float32))
    dy.renew_cg()
    gc.collect()
    _churn_heap()
    with pytest.raises(RuntimeError, match="stale Expression"):
        loss.value()
    with pytest.raises(RuntimeError, match="stale Expression"):
        dy.sum_elems(w_expr)


def test_the_graph_holds_one_reference_per_storage_until_renew_cg():
    dy.renew_cg()
    assert _core._kept_alive_count() == 0
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 2))
    E = pc.add_lookup_parameters((5, 2))
    for k in range(50):  # a reference per storage, not per node
        W.expr(update=True)  # dy.parameter(W) is W itself: no node
        dy.lookup(E, k % 5)
        dy.cg_checkpoint()
        dy.lookup(E, 0)
        dy.cg_revert()  # a revert starts a new parameter node but keeps the reference
    assert _core._kept_alive_count() == 2
    dy.renew_cg()
    assert _core._kept_alive_count() == 0
