"""ListOps (Nangia & Bowman, 2018): nested list operations over digits.

An expression such as ``[MAX 2 9 [MIN 4 7 ] 0 ]`` applies an operator to a
list of arguments, each a digit 0-9 or a nested expression.  Operators:

* ``MIN``, ``MAX`` -- the smallest / largest argument;
* ``MED`` -- the median; for an even number of arguments the *lower*
  median (``statistics.median_low``), so the answer is always a digit;
* ``SM`` -- the sum modulo 10.

Here an expression is a :class:`~dynagraph.data.trees.Tree`: an internal
node's label is the operator name (``"MAX"``) and its children are the
arguments; a digit is a leaf with ``label=int(d)`` and ``word=str(d)``.
The *depth* of an expression is its tree height: ``[MAX 2 3 ]`` has depth 1.

Note: the original data files may use a different median convention for an
even number of arguments, so :func:`evaluate` can disagree with their labels
on such expressions.
"""

from __future__ import annotations

import math
import os
import random
import statistics
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Sequence, Tuple, Union

from .._safe_files import check_path
from .trees import Tree

__all__ = ["OPERATORS", "ListOpsExample", "generate_listops", "evaluate",
           "parse_listops", "listops_to_text", "read_listops_tsv"]

PathLike = Union[str, "os.PathLike[str]"]

OPERATORS: Tuple[str, ...] = ("MIN", "MAX", "MED", "SM")

_APPLY: Dict[str, Callable[[Sequence[int]], int]] = {
    "MIN": min,
    "MAX": max,
    "MED": lambda args: int(statistics.median_low(args)),
    "SM": lambda args: sum(args) % 10,
}

@dataclass
class ListOpsExample:
    """One ListOps example: the expression tree, its value and its flat text."""

    tree: Tree
    answer: int
    text: str


def evaluate(tree: Tree) -> int:
    """The value (0-9) of a ListOps expression tree (iterative post-order).

    Raises:
        ValueError: for an unknown operator, a leaf that is not a digit or an
            operator node without arguments.
    """
    values: List[int] = []
    for node in tree.nodes():
        if not node.children:
            raw = node.word if node.word is not None else node.label
            try:
                values.append(int(raw))
            except (TypeError, ValueError):
                raise ValueError(f"ListOps leaf {raw!r} is not a digit") from None
            continue
        fn = _APPLY.get(node.label)
        if fn is None:
            raise ValueError(f"unknown ListOps operator {node.label!r}")
        k = len(node.children)
        args = values[-k:]
        del values[-k:]
        values.append(fn(args))
    return values[0]


def listops_to_text(tree: Tree) -> str:
    """The flat token form of an expression, e.g. ``[MAX 2 9 [MIN 4 7 ] 0 ]``."""
    out: List[str] = []
    stack: list = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif item.children:
            out.append("[" + str(item.label))
            stack.append("]")
            stack.extend(reversed(item.children))
        else:
            out.append(item.word if item.word is not None else str(item.label))
    return " ".join(out)


def parse_listops(text: str) -> Tree:
    """Parse the flat token form back into an n-ary tree.

    Tokens are whitespace-separated: ``[OP`` opens an operator, ``]`` closes
    it, a digit is an argument.  Round brackets ``(`` and ``)`` (the
    binarization marks of the original data files) are ignored.

    Raises:
        ValueError: on malformed input, giving the (0-based) token index.
    """
    stack: List[Tree] = []
    root = None
    for i, tok in enumerate(text.split()):
        if tok in ("(", ")"):
            continue
        if root is not None:
            raise ValueError(f"unexpected token {tok!r} at token {i} after the end of the expression")
        if tok.startswith("["):
            op = tok[1:]
            if op not in _APPLY:
                raise ValueError(f"unknown operator {tok!r} at token {i}")
            node = Tree(op)
            if stack:
                stack[-1].children.append(node)
            stack.append(node)
        elif tok == "]":
            if not stack:
                raise ValueError(f"unmatched ']' at token {i}")
            node = stack.pop()
            if not node.children:
                raise ValueError(f"operator {node.label!r} without arguments closed at token {i}")
            if not stack:
                root = node
        elif len(tok) == 1 and tok.isdigit():
            leaf = Tree(int(tok), word=tok)
            if stack:
                stack[-1].children.append(leaf)
            else:
                root = leaf
        else:
            raise ValueError(f"unexpected token {tok!r} at token {i}")
    if stack:
        raise ValueError(f"unclosed operator {stack[-1].label!r} at end of input")
    if root is None:
        raise ValueError("empty ListOps expression")
    return root


def _generate(rng: random.Random, depth: int, max_args: int, p_nest: float,
              out: List[str]) -> Tuple[Tree, int]:
    """A random expression of exactly ``depth``; appends its tokens to ``out``."""
    op = OPERATORS[rng.randrange(4)]
    k = rng.randint(2, max_args)
    deep = rng.randrange(k)  # this argument carries the required depth
    out.append("[" + op)
    children: List[Tree] = []
    values: List[int] = []
    for i in range(k):
        if depth > 1 and (i == deep or rng.random() < p_nest):
            sub_depth = depth - 1 if i == deep else rng.randint(1, depth - 1)
            child, value = _generate(rng, sub_depth, max_args, p_nest, out)
        else:
            value = rng.randrange(10)
            child = Tree(value, word=str(value))
            out.append(child.word)
        children.append(child)
        values.append(value)
    out.append("]")
    return Tree(op, children), _APPLY[op](values)


def generate_listops(n: int, max_depth: int = 4, max_args: int = 4, seed: int = 0,
                     min_depth: int = 1, balance: bool = True,
                     p_nest: float = 0.25) -> List[ListOpsExample]:
    """Generate ``n`` random ListOps examples.

    Args:
        n: number of examples.
        max_depth, min_depth: every expression's depth (operator nesting,
            equal to ``tree.height()``) is drawn uniformly from
            ``min_depth .. max_depth``.
        max_args: each operator gets between 2 and ``max_args`` arguments.
        seed: the output is a deterministic function of all arguments.
        balance: if true, no answer (0-9) occurs more than ``ceil(n / 10)``
            times (rejection sampling), so the classes are balanced.
        p_nest: chance that an argument which is not needed to reach the
            drawn depth is itself a nested expression.

    Returns:
        A list of :class:`ListOpsExample`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 1 <= min_depth <= max_depth:
        raise ValueError(f"need 1 <= min_depth <= max_depth, got {min_depth}, {max_depth}")
    if max_args < 2:
        raise ValueError(f"max_args must be >= 2, got {max_args}")
    if not 0.0 <= p_nest <= 1.0:
        raise ValueError(f"p_nest must be in [0, 1], got {p_nest}")
    rng = random.Random(seed)
    quota = math.ceil(n / 10)
    counts = [0] * 10
    examples: List[ListOpsExample] = []
    while len(examples) < n:
        depth = rng.randint(min_depth, max_depth)
        tokens: List[str] = []
        tree, answer = _generate(rng, depth, max_args, p_nest, tokens)
        if balance and counts[answer] >= quota:
            continue
        counts[answer] += 1
        examples.append(ListOpsExample(tree, answer, " ".join(tokens)))
    return examples


def _is_int(s: str) -> bool:
    return s.isascii() and s.isdigit()


def read_listops_tsv(path: PathLike) -> Iterator[ListOpsExample]:
    """Read a ListOps TSV file, yielding :class:`ListOpsExample` objects.

    Each line has two tab-separated fields, the answer and the expression,
    in either order (``label<TAB>text`` as in Nangia & Bowman's files, or
    ``text<TAB>label`` as in Long Range Arena files).  An optional header
    line ``Source<TAB>Target`` is skipped, as are blank lines.  Round
    brackets in the expression are ignored.  ``answer`` is the file's label
    and ``text`` the normalised flat form of the expression.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: ``"{path}:{lineno}: ..."`` for a malformed line.
    """
    name = os.fspath(path)
    with open(check_path("read_listops_tsv", "path", path), "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if lineno == 1 and [x.strip().lower() for x in fields] == ["source", "target"]:
                continue
            if len(fields) != 2:
                raise ValueError(f"{name}:{lineno}: expected 2 tab-separated fields, got {len(fields)}")
            a, b = fields[0].strip(), fields[1].strip()
            if _is_int(a) and not _is_int(b):
                label, expr = a, b
            elif _is_int(b):
                label, expr = b, a
            else:
                raise ValueError(f"{name}:{lineno}: no integer label field")
            try:
                tree = parse_listops(expr)
            except ValueError as exc:
                raise ValueError(f"{name}:{lineno}: {exc}") from None
            yield ListOpsExample(tree, int(label), listops_to_text(tree))
