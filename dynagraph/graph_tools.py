"""Looking at the current graph: Graphviz DOT output and a dump of values and gradients.

``print_text_graphviz()`` prints the graph as a DOT digraph (``dot -Tpdf``
draws it); every node is labelled ``vN = op(args) {shape}``. ``dump_cg()``
writes every node's value and gradient as text, which helps to find the first
node where a NaN appears.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from . import _core
from ._safe_files import check_path

__all__ = ["print_graphviz", "print_text_graphviz", "dump_cg", "graphviz_source"]


def _dim_str(dim) -> str:
    axes, batch = dim
    s = "{" + ",".join(str(a) for a in axes) + "}"
    return s + (f"x{batch}" if batch > 1 else "")


def _label(i: int, op: str, args: tuple, dim, param) -> str:
    arg_list = ", ".join(f"v{a}" for a in args)
    if param is not None:
        arg_list = (arg_list + ", " if arg_list else "") + (param or "unnamed")
    return f"v{i} = {op}({arg_list}) {_dim_str(dim)}".replace('"', '\\"')


def graphviz_source(compact: bool = False) -> str:
    """The current graph as Graphviz DOT source.

    compact: label nodes with the op name only (no arguments or shapes).
    """
    lines = ["digraph G {", "  rankdir=LR;", "  nodesep=.05;"]
    for i, (op, args, dim, param) in enumerate(_core.graph_nodes()):
        label = op if compact else _label(i, op, args, dim, param)
        shape = ', shape=box' if op in ("parameter", "lookup") else ""
        lines.append(f'  N{i} [label="{label}"{shape}];')
        lines.extend(f"  N{a} -> N{i};" for a in args)
    lines.append("}")
    return "\n".join(lines) + "\n"


def print_text_graphviz() -> None:
    """Prints the current graph as Graphviz DOT source."""
    sys.stdout.write(graphviz_source())


def print_graphviz(compact: bool = False, **kwargs) -> None:
    """Prints the current graph as Graphviz DOT source (``compact``: op names only).

    DyNet's extra keyword arguments (``show_dims``, ``expression_names``, ...)
    are accepted and ignored.
    """
    sys.stdout.write(graphviz_source(compact))


def _block(title: str, arr: np.ndarray) -> str:
    arr = np.atleast_1d(np.asarray(arr))
    if arr.ndim == 1:
        arr = arr[:, None]
    text = np.array2string(arr.reshape(arr.shape[0], -1), precision=6, suppress_small=False,
                           max_line_width=10**6, threshold=10**9)
    return f"{title}: \n{text}\n"


def _gradient(e):
    try:
        return e.gradient()
    except RuntimeError:  # no backward() since the graph was built
        return None


def dump_cg(filename: str = "", show_values: bool = True, show_gradients: bool = True,
            nan_check_only: bool = False) -> None:
    """Writes every node's op, shape, value and gradient (from the last backward) as text.

    filename: where to write ("" = standard output).
    nan_check_only: write only the nodes whose value or gradient is not finite.
    Values are computed if they have not been yet.
    """
    if not isinstance(filename, (str, os.PathLike)):  # an int would be a file descriptor to open (and close)
        raise TypeError(f"dump_cg: argument 'filename' must be a path, got {type(filename).__name__}")
    nodes = _core.graph_nodes()
    out = []
    for i, (op, args, dim, param) in enumerate(nodes):
        e = _core.node_expression(i)
        value = e.npvalue() if (show_values or nan_check_only) else None
        grad = _gradient(e) if (show_gradients or nan_check_only) else None
        if nan_check_only and all(x is None or np.isfinite(x).all() for x in (value, grad)):
            continue
        out.append(f"Node {i}: {_label(i, op, args, dim, param)}\n")
        if show_values:
            out.append(_block("Value", value))
        if show_gradients:
            out.append(_block("Gradient", grad) if grad is not None else "Gradient: none (no backward yet)\n")
    text = "".join(out)
    if filename:
        with open(check_path("dump_cg", "filename", filename), "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
