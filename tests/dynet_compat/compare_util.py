"""Shared runner for the dynet38 comparison suites: the same graph is built in
both libraries from the same inputs; values and input gradients must agree."""
import numpy as np


def run(module, inputs, build):
    """inputs: [(array, batched)]; returns (dim, value, input gradients) of build(module, *xs)."""
    module.renew_cg()
    xs = [module.inputTensor(a, batched=b) for a, b in inputs]
    y = build(module, *xs)
    value = np.asarray(y.npvalue(), dtype=np.float64)
    w = np.cos(np.arange(value.size)).reshape(value.shape).astype(np.float32)  # fixed weights
    weights = module.inputTensor(w, batched=y.dim()[1] > 1)
    loss = module.sum_batches(module.sum_elems(module.cmult(y, weights)))
    loss.forward()
    loss.backward(full=True)
    return y.dim(), value, [np.asarray(x.gradient(), dtype=np.float64) for x in xs]


def assert_same(ours, theirs, inputs, build, skip_grads=(), rtol=1e-5, atol=1e-6):
    dim_ref, val_ref, grads_ref = run(theirs, inputs, build)
    dim, val, grads = run(ours, inputs, build)
    assert tuple(map(tuple, [dim[0]])) + (dim[1],) == tuple(map(tuple, [dim_ref[0]])) + (dim_ref[1],)
    np.testing.assert_allclose(val.reshape(val_ref.shape), val_ref, rtol=rtol, atol=atol)
    for k, (g, g_ref) in enumerate(zip(grads, grads_ref)):
        if k in skip_grads:
            continue
        np.testing.assert_allclose(g.reshape(g_ref.shape), g_ref, rtol=rtol, atol=atol, err_msg=f"input {k}")
