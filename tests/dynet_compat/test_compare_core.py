"""dynagraph vs dynet38 on the input, arithmetic, element-wise and matmul
families, and on a small model with parameters and a trainer."""
import zlib

import numpy as np
import pytest

import dynagraph as dg
from compare_util import assert_same

dynet = pytest.importorskip("dynet")
pytestmark = pytest.mark.compare

V = ((4,), False)
VB = ((4, 3), True)      # 4-vectors, batch 3
M = ((3, 4), False)
POS = "positive"

UNARY = ["tanh", "logistic", "log_sigmoid", "rectify", "elu", "selu", "softsign", "exp", "square", "cube",
         "erf", "sin", "cos", "atan", "sinh", "cosh", "asinh"]

CASES = {f"{name}": ([VB], (lambda n: lambda m, x: getattr(m, n)(x))(name)) for name in UNARY}
CASES.update({
    "log": ([(VB[0], True, POS)], lambda m, x: m.log(x)),
    "sqrt": ([(VB[0], True, POS)], lambda m, x: m.sqrt(x)),
    "silu": ([VB], lambda m, x: m.silu(x, 1.0)),
    "abs": ([VB], lambda m, x: m.abs(x)),
    "add": ([VB, V], lambda m, a, b: a + b),
    "sub": ([VB, VB], lambda m, a, b: a - b),
    "neg": ([VB], lambda m, x: -x),
    # dynet38 has x*c, x/c, x+c, x-c (not c*x, c/x or c-x; dynagraph has those too).
    "scalar_ops": ([VB], lambda m, x: x * 2.0 + 1.0 - x / 2.0 - 0.5),
    "cmult": ([VB, VB], lambda m, a, b: m.cmult(a, b)),
    "cdiv": ([VB, (VB[0], True, POS)], lambda m, a, b: m.cdiv(a, b)),
    "bmax": ([VB, VB], lambda m, a, b: m.bmax(a, b)),
    "bmin": ([VB, VB], lambda m, a, b: m.bmin(a, b)),
    "esum": ([VB, V, VB], lambda m, a, b, c: m.esum([a, b, c])),
    "emax": ([VB, VB], lambda m, a, b: m.emax([a, b])),
    "matmul_shared": ([M, VB], lambda m, W, x: W * x),
    "matmul_batched": ([((3, 4, 2), True), ((4, 2, 2), True)], lambda m, W, x: W * x),
    "matmul_matrix": ([M, ((4, 2), False)], lambda m, W, x: W * x),
    "affine": ([((3,), False), M, VB, ((3, 2), False), ((2,), False)],
               lambda m, b, W, x, V_, z: m.affine_transform([b, W, x, V_, z])),
    "dot_product": ([VB, V], lambda m, a, b: m.dot_product(a, b)),
    "transpose": ([((3, 4), True)], lambda m, x: m.transpose(x)),
    "transpose_vector": ([V], lambda m, x: m.transpose(x)),
    "transpose_dims_2d": ([((3, 4), True)], lambda m, x: m.transpose(x, [1, 0])),
    "transpose_dims_3d": ([((2, 3, 4, 2), True)], lambda m, x: m.transpose(x, [2, 0, 1])),
    "transpose_dims_3d_kw": ([((2, 3, 4), False)], lambda m, x: m.transpose(x, dims=[1, 2, 0])),
    "transpose_dims_identity": ([((2, 3, 4), False)], lambda m, x: m.transpose(x, [0, 1, 2])),
    "colwise_add": ([M, ((3,), False)], lambda m, x, b: m.colwise_add(x, b)),
    "trace_of_product": ([M, M], lambda m, a, b: m.trace_of_product(a, b)),
    "pow": ([(VB[0], True, POS), ((1,), False)], lambda m, a, b: m.pow(a, b)),
})


def make_inputs(name, specs):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = []
    for spec in specs:
        shape, batched = spec[0], spec[1]
        if len(spec) > 2:
            arr = rng.uniform(0.5, 2.0, shape)
        else:
            arr = rng.standard_normal(shape)
        inputs.append((arr.astype(np.float32), batched))
    return inputs


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_dynet(name):
    specs, build = CASES[name]
    assert_same(dg, dynet, make_inputs(name, specs), build, rtol=1e-4, atol=1e-5)


def small_models(seed):
    """(module, collection, W, b, E) for DyNet and dynagraph, from the same NumPy values."""
    rng = np.random.default_rng(seed)
    W0, b0 = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    E0 = rng.standard_normal((6, 4)).astype(np.float32)
    for m in (dynet, dg):
        pc = m.ParameterCollection()
        yield m, pc, pc.parameters_from_numpy(W0), pc.parameters_from_numpy(b0), pc.lookup_parameters_from_numpy(E0)


def test_training_matches_dynet():
    """Same parameters, same data, same trainer: same parameters after 5 updates."""
    results = []
    for m, pc, W, b, E in small_models(0):
        trainer = m.AdamTrainer(pc, 0.05)
        for step in range(5):
            m.renew_cg()
            h = m.tanh(W * m.lookup(E, step) + b)
            loss = m.pickneglogsoftmax(h, step % 3)
            loss.value()
            loss.backward()
            trainer.update()
        results.append((W.as_array(), b.as_array(), E.as_array()))
    for ref, got in zip(*results):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


TRAINERS = {
    "sgd": lambda m, pc: m.SimpleSGDTrainer(pc),
    "momentum": lambda m, pc: m.MomentumSGDTrainer(pc, learning_rate=0.05, mom=0.5),
    "adagrad": lambda m, pc: m.AdagradTrainer(pc),
    "adadelta": lambda m, pc: m.AdadeltaTrainer(pc),
    "rmsprop": lambda m, pc: m.RMSPropTrainer(pc, learning_rate=0.01),
    "adam": lambda m, pc: m.AdamTrainer(pc, alpha=0.01),
    "amsgrad": lambda m, pc: m.AmsgradTrainer(pc, alpha=0.02, beta_1=0.7, beta_2=0.9),
    "cyclical": lambda m, pc: m.CyclicalSGDTrainer(pc, step_size=3),
}


@pytest.mark.parametrize("change", ["restart", "restart_lr", "set_lr"])
@pytest.mark.parametrize("kind", sorted(TRAINERS))
def test_trainer_state_changes_match_dynet(kind, change):
    """restart() (moments forgotten, update count kept), restart(lr) and the learning-rate
    setter mid-training: same parameters and learning rates as DyNet after 6 updates."""
    results = []
    for m, pc, W, b, E in small_models(7):
        trainer = TRAINERS[kind](m, pc)
        lrs = []
        for step in range(6):
            m.renew_cg()
            loss = m.pickneglogsoftmax(m.tanh(W * m.lookup(E, step % 3) + b) * 10.0, step % 3)
            loss.value()
            loss.backward()
            trainer.update()
            if step == 2:
                if change == "restart":
                    trainer.restart()
                elif change == "restart_lr":
                    trainer.restart(0.02)
                else:
                    trainer.learning_rate = 0.07
            lrs.append(trainer.learning_rate)
        results.append((W.as_array(), b.as_array(), E.as_array(), np.array(lrs)))
    for ref, got in zip(*results):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
