"""Bad arguments raise a clear error naming the function, the argument and what
was expected (issue 20, items 5 and 6): never pybind11's "Unable to cast",
never a silent nan, never a ZeroDivisionError or an empty MemoryError."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynagraph as dy


@pytest.fixture(autouse=True)
def fresh_graph():
    dy.renew_cg()


def raises(kind, *fragments):
    """pytest.raises(kind) that also checks each fragment is in the message."""
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(kind)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in {message!r}"
            return result
    return Check()


# ---- item 5: silent acceptance
@pytest.mark.parametrize("bad", [None, "x", np.array(["x"]), np.array([None, 1.0]), [1.0, None], {"a": 1},
                                 np.array([1 + 2j]), [[1.0, 2.0], [3.0]]])
def test_input_tensor_refuses_what_is_not_numbers(bad):
    with raises(TypeError, "inputTensor", "'arr'", "real numbers"):
        dy.inputTensor(bad)


def test_input_tensor_still_takes_numbers_and_lists_of_arrays():
    assert dy.inputTensor([[1, 2], [3, 4]]).npvalue().tolist() == [[1, 2], [3, 4]]
    assert dy.inputTensor(np.array([True, False])).npvalue().tolist() == [1.0, 0.0]
    batch = dy.inputTensor([np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    assert batch.dim() == ((2,), 2)


def test_set_value_refuses_none_instead_of_writing_nan():
    pc = dy.ParameterCollection()
    p = pc.add_parameters((1,), init=3.0)
    with raises(TypeError, "set_value", "real numbers"):
        p.set_value(None)
    assert p.as_array().tolist() == [3.0]


def test_lookup_init_from_array_checks_rows_before_copying():
    pc = dy.ParameterCollection()
    table = pc.add_lookup_parameters((10, 4))
    with raises(ValueError, "init_from_array", "10 rows", "(40,)"):
        table.init_from_array(np.zeros(40))  # the right size, the wrong shape: used to read past each row


# ---- item 6: unclear errors
@pytest.mark.parametrize("call, fragments", [
    (lambda: dy.zeros((2.5,)), ("zeros", "'dim[0]'", "must be an int", "2.5")),
    (lambda: dy.ones(2.5), ("ones", "'dim'", "must be an int")),
    (lambda: dy.constant((2, "a"), 1.0), ("constant", "'dim[1]'", "must be an int")),
    (lambda: dy.random_normal((None,)), ("random_normal", "'dim[0]'")),
    (lambda: dy.random_uniform([1.5], 0, 1), ("random_uniform", "'dim[0]'")),
    (lambda: dy.inputMatrix([1.0, 2.0], (2.0, 1)), ("inputMatrix", "'d[0]'")),
    (lambda: dy.reshape(dy.ones((4,)), (2, 2.0)), ("reshape", "'d[1]'")),
    (lambda: dy.sum_dim(dy.ones((2, 2)), [0.5]), ("sum_dim", "'d[0]'")),
    (lambda: dy.std_dim(dy.ones((2, 2)), 1.5), ("std_dim", "'d'")),
    (lambda: dy.moment_dim(dy.ones((2, 2)), "0", 2), ("moment_dim", "'d'")),
    (lambda: dy.pick(dy.ones((3,)), 1.5), ("pick", "'index'", "must be an int", "1.5")),
    (lambda: dy.pick(dy.ones((3,)), [1.5]), ("pick", "'index[0]'")),
    (lambda: dy.vecInput(2.5), ("vecInput", "'dim'")),
    (lambda: dy.parameter_expr(1.5), ("parameter_expr", "Parameters", "float")),
    (lambda: dy.ParameterCollection().add_parameters((2, 1.5)), ("add_parameters", "'dim[1]'")),
    (lambda: dy.one_hot(3, 1.5), ("one_hot", "'idx'")),
    (lambda: dy.mean_dim(dy.ones((2, 2)), [0.5]), ("mean_dim", "'d[0]'")),
    (lambda: dy.tanh(1.5), ("tanh", "'x'", "Expression")),
    (lambda: dy.cmult(dy.ones((2,)), "a"), ("cmult", "'y'", "Expression")),
])
def test_wrong_types_are_type_errors_naming_function_and_argument(call, fragments):
    with raises(TypeError, *fragments):
        call()


@pytest.mark.parametrize("call, kind, fragments", [
    (lambda: dy.ParameterCollection().add_parameters((0,)), ValueError, ("add_parameters", "'dim'", ">= 1")),
    (lambda: dy.ParameterCollection().add_lookup_parameters((3, 0)), ValueError, ("add_lookup_parameters", ">= 1")),
    (lambda: dy.zeros((0, 2)), ValueError, ("zeros", "'dim'", ">= 1")),
    (lambda: dy.zeros((2,), batch_size=0), ValueError, ("zeros", "batch")),
    (lambda: dy.vecInput(0), ValueError, ("vecInput", "'dim'", ">= 1")),
    (lambda: dy.pick(dy.ones((3,)), 2**70), OverflowError, ("pick", "'index'", "out of range")),
    (lambda: dy.zeros((2**70,)), OverflowError, ("zeros", "'dim[0]'", "out of range")),
    (lambda: dy.pick(dy.ones((3,)), 5), IndexError, ("pick",)),
    (lambda: dy.cmult(dy.ones((2,)), dy.ones((3,))), ValueError, ("cmult",)),
    (lambda: dy.ones((2,)) + dy.ones((3,)), ValueError, ("x + y",)),
])
def test_bad_values_name_the_function(call, kind, fragments):
    with raises(kind, *fragments):
        call()


def test_stale_expressions_name_the_function():
    x = dy.ones((2,))
    dy.renew_cg()
    for call, name in [(lambda: dy.tanh(x), "tanh"), (lambda: dy.sum_elems(x), "sum_elems"),
                       (lambda: dy.cmult(x, x), "cmult"), (lambda: dy.pick(x, 0), "pick"),
                       (lambda: x * 2.0, "x * y"), (lambda: dy.mean_elems(x), "mean_elems")]:
        with raises(RuntimeError, name, "stale Expression"):
            call()


def test_python_wrappers_name_themselves_and_keep_the_error_type():
    e = dy.ones((2, 3))
    with raises(IndexError, "Expression.__getitem__", "out of range"):
        e[5]
    with raises(ValueError, "average", "at least one"):
        dy.average([])
    with raises(TypeError, "SimpleSGDTrainer", "ParameterCollection"):
        dy.SimpleSGDTrainer(None)
    assert dy.average.__name__ == "average" and "Element-wise mean" in dy.average.__doc__


def test_the_naming_wrapper_takes_the_functions_own_parameters():
    # name_errors' wrapper has f's signature (no *args/**kwargs to pack on every
    # call) and passes f's own default objects.
    import inspect
    from dynagraph import _errors
    sentinel = object()

    def f(a, b=sentinel, *rest, c=[1], **kw):
        if a == "bad":
            raise ValueError("bad a")
        return a, b, rest, c, kw

    def g(x, /, y=2, *, z=3):
        return x, y, z

    wf, wg = _errors._named(f, "f"), _errors._named(g, "g")
    assert inspect.signature(wf) == inspect.signature(f) and inspect.signature(wg) == inspect.signature(g)
    assert wf(1)[1] is sentinel and wf(1)[3] is f.__kwdefaults__["c"]
    assert wf(1, 2, 3, c=4, d=5) == (1, 2, (3,), 4, {"d": 5})
    assert wg(1) == (1, 2, 3) and wg(1, 5, z=6) == (1, 5, 6)
    assert not wg.__code__.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    with raises(ValueError, "f: bad a"):
        wf("bad")
    with raises(TypeError, "g()", "positional-only"):
        wg(x=1)
    with raises(TypeError, "f()", "missing"):
        wf()


def test_per_step_functions_name_their_own_errors():
    # renew_cg, Trainer.update and parameter run on every training step: they
    # name their errors themselves, without the wrapper's extra Python frame.
    for fn in (dy.renew_cg, dy.Trainer.update, dy.parameter):
        assert not hasattr(fn, "__wrapped__")
    with raises(ValueError, "renew_cg: ", "truth value"):
        dy.renew_cg(autobatching=np.zeros(2))
    m = dy.ParameterCollection()
    W = m.add_parameters((1, 2))
    tr = dy.SimpleSGDTrainer(m)
    tr._t.check_finite = True
    dy.renew_cg()
    dy.sum_elems(W * dy.inputVector([float("nan"), 1.0])).backward()
    with raises(ValueError, "Trainer.update: ", "non-finite"):
        tr.update()
    with raises(TypeError, "parameter: ", "got int"):
        dy.parameter(W, 3)
    assert dy.parameter(W) is W and dy.parameter(W, W) == (W, W)


def test_huge_input_is_a_memory_error_naming_the_size():
    # In a subprocess whose address space is capped: the allocation fails at once.
    code = textwrap.dedent("""
        import resource
        import dynagraph as dy
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, hard))
        try:
            dy.vecInput(2**33)
        except MemoryError as exc:
            print("MemoryError:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "MemoryError: vecInput" in out.stdout and "32.0 GiB" in out.stdout, out.stdout


def test_random_bytes_meta_is_a_value_error_naming_the_file(tmp_path):
    (tmp_path / "m.meta").write_bytes(bytes(range(200, 256)) * 4)
    (tmp_path / "m.data").write_bytes(b"")
    with raises(ValueError, "m.meta", "corrupt or truncated meta file"):
        dy.load(str(tmp_path / "m"), dy.ParameterCollection())


def test_trainer_hyper_parameters_are_named():
    with raises(TypeError, "AdamTrainer", "'beta_1'", "must be a number"):
        dy.AdamTrainer(dy.ParameterCollection(), beta_1="x")


def test_bytes_that_are_not_utf8_in_a_message_are_escaped():
    # The message quotes the argument; its bytes used to make PyErr_SetString raise
    # UnicodeDecodeError (no function named) in place of the ValueError.
    with raises(ValueError, "set_autobatch_policy", r"got '\xff\xfe'"):
        dy.set_autobatch_policy(b"\xff\xfe")
    dy.renew_cg()
    with raises(ValueError, "argmax", r"got '\xff'"):
        dy.argmax(dy.inputVector([1.0, 2.0]), b"\xff")


@pytest.mark.parametrize("make", [lambda pc: pc.add_parameters((2,), name=b"\xff"),
                                  lambda pc: pc.add_lookup_parameters((2, 2), name=b"w"),
                                  lambda pc: pc.add_subcollection(b"\xfe")])
def test_names_must_be_str(make):
    # A bytes name reached the engine as it was: one not UTF-8 made name(), repr and save fail later.
    pc = dy.ParameterCollection()
    with pytest.raises(TypeError, match="argument 'name' must be a str, got bytes"):
        make(pc)
    assert pc.parameters_list() == [] and pc.lookup_parameters_list() == []
