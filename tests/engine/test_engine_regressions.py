"""Engine crashes found while building the model side (builders, Tree-LSTM example)."""
import numpy as np

import dynagraph as dy


def test_backward_without_parameters_is_a_no_op():
    for autobatch in (False, True):
        dy.renew_cg(autobatching=autobatch)
        loss = dy.sum_elems(dy.inputVector([1.0, 2.0]) * 2.0)
        assert loss.value() == 6.0
        loss.backward()                  # used to write the seed gradient through a null buffer
    dy.renew_cg(autobatching=False)


def test_autobatch_value_of_an_already_computed_node():
    pc = dy.ParameterCollection()
    W = pc.add_parameters((3, 2))
    dy.renew_cg(autobatching=True)
    outs = [W * dy.inputVector([1.0, float(i)]) for i in range(3)]
    dy.forward(outs)
    w = W.as_array()
    for i in (2, 0, 1):                  # asking for an earlier node used to allocate ~4 GiB
        np.testing.assert_allclose(outs[i].npvalue(), w @ [1.0, i], atol=1e-5)
    dy.renew_cg(autobatching=False)


def test_parameter_shape():
    p = dy.ParameterCollection().add_parameters((5, 3))
    assert p.shape() == (5, 3)           # used to read a destroyed temporary tuple
