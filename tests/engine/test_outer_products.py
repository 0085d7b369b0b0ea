"""A weight's gradient from its products (add_outer_product): the terms dW += dY X^T
aimed at one weight are applied together, every 512 columns and at the weight's node,
as one GEMM over copies of the terms. Weights whose terms share their operands (a
cell's gates U_g e) flush one after the other and reuse the copy of the operands."""
import numpy as np
import pytest

import dynagraph as dy


def gates_model(gates=5, hid=12, inputs=24, seed=0):
    rng = np.random.default_rng(seed)
    pc = dy.ParameterCollection()
    Us = [pc.add_parameters((hid, inputs)) for _ in range(gates)]
    cs = [rng.standard_normal(hid) for _ in range(gates)]
    return pc, Us, cs


@pytest.mark.parametrize("autobatching", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [300, 700])  # all terms at the weights' nodes; a batch at 512 columns too
def test_gates_sharing_operands_get_their_own_gradients_graph_after_graph(autobatching, threads, n):
    """loss = sum_i sum_g c_g . (U_g e_i) over n inputs, in chains of 0-2 steps (so
    autobatching makes several groups, several terms per weight): dU_g = c_g (sum of the
    operands)^T. Two graphs in a row with other inputs: a copy of the first graph's
    operands must not serve the second (its memory holds the same addresses)."""
    dy.set_num_threads(threads)
    try:
        pc, Us, cs = gates_model()
        rng = np.random.default_rng(1)
        for graph in range(2):
            for U in Us:
                U.scale_gradient(0.0)  # (a fresh gradient per graph: the storages accumulate)
            dy.renew_cg(autobatching=autobatching)
            es, ops = [], []
            for i in range(n):
                e = dy.inputVector(rng.standard_normal(24))
                v = e.npvalue()
                for _ in range(i % 3):  # a chain: the operand at another level
                    e = dy.tanh(e)
                    v = np.tanh(v)
                es.append(e)
                ops.append(v)
            loss = dy.esum([dy.dot_product(dy.inputVector(c), dy.parameter(U) * e)
                            for e in es for U, c in zip(Us, cs)])
            loss.value()
            loss.backward()
            total = np.sum(np.array(ops, dtype=np.float64), axis=0)
            for U, c in zip(Us, cs):
                np.testing.assert_allclose(U.grad_as_array(), np.outer(c, total), rtol=2e-4, atol=2e-3)
    finally:
        dy.set_num_threads(1)
