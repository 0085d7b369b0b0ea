"""inspect.signature, help() and IDEs read the C functions' signatures (probe27):
the element-wise fast ops and the fast-call fronts carry CPython's text signature
("name(args)\\n--\\n\\n" in their docstrings), and a reload of the package works."""
import inspect
import subprocess
import sys
import textwrap

import pytest

import dynagraph as dy
from dynagraph import _core

FAST_OPS = sorted({name for row in _core.op_table() for name in row["functions"]
                   if type(getattr(dy, name, None)).__name__ == "builtin_function_or_method"
                   and getattr(dy, name).__text_signature__ in ("(x)", "(x, y)")})


def test_the_fast_ops_are_found():
    assert {"tanh", "exp", "cmult", "cdiv", "logistic"} <= set(FAST_OPS), FAST_OPS


@pytest.mark.parametrize("name", FAST_OPS)
def test_fast_ops_have_dynets_signatures_and_a_docstring(name):
    f = getattr(dy, name)
    params = list(inspect.signature(f).parameters.values())
    assert [p.name for p in params] in (["x"], ["x", "y"])
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)  # DyNet's f(x=e) works too
    doc = inspect.getdoc(f)
    assert doc and not doc.startswith(name + "(")  # the signature line is not repeated in the text


def test_unary_and_binary_signatures():
    assert str(inspect.signature(dy.tanh)) == "(x)"
    assert str(inspect.signature(dy.cmult)) == "(x, y)"
    assert "hyperbolic tangent" in dy.tanh.__doc__


@pytest.mark.parametrize("name, expected", [
    ("pick", "(e, index=0, dim=0)"),
    ("concatenate", "(xs, d=0)"),
    ("esum", "(xs)"),
    ("transpose", "(x, dims=[1, 0])"),
    ("lookup", "(p, index=0, update=True)"),
    ("parameter", "(*params)"),
])
def test_fast_call_fronts_have_the_general_functions_signature(name, expected):
    f = getattr(dy, name)
    assert type(f).__name__ == "builtin_function_or_method"
    assert str(inspect.signature(f)) == expected
    general = _core._general(f)
    assert inspect.getdoc(f) in inspect.getdoc(general)  # the text is the general function's, less its signature line


def test_help_shows_the_signature():
    out = subprocess.run([sys.executable, "-c", "import dynagraph as dy; help(dy.tanh); help(dy.pick)"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "tanh(x)" in out.stdout and "pick(e, index=0, dim=0)" in out.stdout, out.stdout


def test_the_package_reloads():
    # importlib.reload(dynagraph) raised AttributeError: `from . import values` found
    # the function dy.values (which the star import had put there), not the module.
    code = textwrap.dedent("""
        import importlib
        import dynagraph as dy
        names = sorted(dy.__all__)
        again = importlib.reload(dy)
        assert again is dy and sorted(dy.__all__) == names, "names changed"
        dy.renew_cg()
        x = dy.inputVector([1.0, 2.0])
        assert dy.values([dy.tanh(x)])[0] == [0.7615941762924194, 0.9640275835990906]
        try:
            dy.pick(x, 5)
        except IndexError as exc:
            print("IndexError:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("IndexError: pick: index 5 out of range"), out.stdout


def test_fast_ops_take_dynets_keywords():
    """DyNet's tanh(x=e), cmult(x=e, y=f): the same node as the positional call; other forms name the problem."""
    dy.renew_cg()
    e = dy.inputVector([0.5, -1.0, 2.0])
    f = dy.inputVector([1.5, 2.0, -0.5])
    import numpy as np
    np.testing.assert_allclose(dy.tanh(x=e).npvalue(), np.tanh(e.npvalue()), rtol=1e-6)
    np.testing.assert_allclose(dy.logistic(x=e).npvalue(), dy.logistic(e).npvalue(), rtol=0)
    np.testing.assert_allclose(dy.cmult(x=e, y=f).npvalue(), e.npvalue() * f.npvalue(), rtol=1e-6)
    for call, message in [(lambda: dy.tanh(y=e), "unexpected keyword argument 'y'"),
                          (lambda: dy.tanh(), r"expected one expression \(x\), got 0 positional"),
                          (lambda: dy.tanh(e, x=e), "got 1 positional and 1 keyword"),
                          (lambda: dy.tanh(e, f), "got 2 positional"),
                          (lambda: dy.exp(x=3), "argument 'x' must be an Expression")]:
        with pytest.raises(TypeError, match=message):
            call()
