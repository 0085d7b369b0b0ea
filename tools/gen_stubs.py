"""Regenerates dynagraph/_core.pyi, the type stub of the compiled engine module.

    pip install pybind11-stubgen && python tools/gen_stubs.py
    python tools/gen_stubs.py --check    # exit 1 if the committed stub is stale

pybind11-stubgen reads the built module; its output is then tidied: the fast
element-wise ops (plain CPython functions without signatures) get Expression
types, the Expression operators return Expression, and pybind11's
``SupportsInt | SupportsIndex`` spellings become ``int`` / ``float``.
Run it after adding bindings and commit the result.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "dynagraph" / "_core.pyi"


def _typed_front(m: re.Match) -> str:
    """A fast-call front (its text signature, untyped, made the def) typed from its
    docstring's first line, pybind11's signature, which the docstring then drops."""
    args = m.group(2).replace("dynagraph._core.", "")
    args = re.sub(r": object\b", ": typing.Any", args)
    return f'def {m.group(1)}({args}){m.group(3)}:\n    """\n'


def tidy(text: str) -> str:
    text = re.sub(r'^def (\w+)\([^\n]*\):\n    """\n    \1\((.*)\)( -> [^\n]+)\n    \n', _typed_front, text,
                  flags=re.M)
    text = text.replace("typing.SupportsInt | typing.SupportsIndex", "int")
    text = text.replace("typing.SupportsFloat | typing.SupportsIndex", "float")
    # fast ops: def tanh(x): / def cmult(x, y): (their text signatures)
    text = re.sub(r"^def (\w+)\(x(, /)?\):", r"def \1(x: Expression\2) -> Expression:", text, flags=re.M)
    text = re.sub(r"^def (\w+)\(x, y(, /)?\):", r"def \1(x: Expression, y: Expression\2) -> Expression:", text,
                  flags=re.M)
    # Expression's number protocol
    text = re.sub(r"def (__r?(?:add|sub|mul|truediv)__)\(self, value\):",
                  r"def \1(self, value: Expression | Parameters | float) -> Expression:", text)
    text = text.replace("def __neg__(self):", "def __neg__(self) -> Expression:")
    # annotations of the Python halves of the classes (dynagraph/_expression.py, _parameters.py)
    text = re.sub(r"\bnp\.", "numpy.", text)
    # names the Python package adds to Expression
    text = text.replace("import typing\n", "import typing\n\nfrom dynagraph.values import Tensor\n", 1)
    return text


def generate() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pybind11_stubgen", "dynagraph._core", "-o", tmp, "--ignore-all-errors"]
        # The installed package (editable or not), never the source folder: run outside the checkout.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        subprocess.run(cmd, check=True, cwd=tmp, env={**env, "PYTHONSAFEPATH": "1"},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return tidy((Path(tmp) / "dynagraph" / "_core.pyi").read_text())


def main() -> int:
    text = generate()
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python tools/gen_stubs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
