"""Labelled constituency trees and a PTB bracket-notation parser.

A :class:`Tree` is a node with a ``label`` (``str`` or ``int``), a list of
``children`` and, for leaves, a ``word``.  Trees are written in Penn Treebank
bracket notation: a leaf is ``(label word)`` and an internal node is
``(label child1 child2 ...)``, e.g. ``(3 (2 (2 The) (2 Rock)) (4 rocks))``.

Every traversal here is iterative, so very deep trees (thousands of levels)
never hit Python's recursion limit.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, List, Optional, Sequence, Union

__all__ = ["Tree", "parse_tree"]

Label = Union[str, int]

# Separators are ASCII whitespace only: SST tokens may contain U+00A0.
_TOKEN_RE = re.compile(r"[()]|[^ \t\n\r\f\v()]+")
_BAD_ATOM_RE = re.compile(r"[ \t\n\r\f\v()]")


def _check_atom(value: str, what: str) -> None:
    if value == "" or _BAD_ATOM_RE.search(value):
        raise ValueError(
            f"{what} {value!r} cannot be written in bracket notation "
            "(it is empty or contains ASCII whitespace or parentheses)"
        )


class Tree:
    """A labelled, ordered tree node.

    Args:
        label: the node label (``str`` or ``int``).
        children: child subtrees (``None`` or empty for a leaf).
        word: the token of a leaf; must be ``None`` for internal nodes.
    """

    __slots__ = ("label", "children", "word")
    __hash__ = None  # mutable: compared structurally, not hashable

    def __init__(self, label: Label, children: Optional[Sequence["Tree"]] = None,
                 word: Optional[str] = None) -> None:
        self.label = label
        self.children: List[Tree] = list(children) if children else []
        if word is not None and self.children:
            raise ValueError("an internal node (with children) cannot have a word")
        self.word = word

    # ------------------------------------------------------------------ basics
    @property
    def is_leaf(self) -> bool:
        """True when the node has no children."""
        return not self.children

    def nodes(self) -> Iterator["Tree"]:
        """Iterate over all nodes in post-order (children left to right,
        then the parent).  Iterative, safe for arbitrarily deep trees."""
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded or not node.children:
                yield node
            else:
                stack.append((node, True))
                for child in reversed(node.children):
                    stack.append((child, False))

    def leaves(self) -> List["Tree"]:
        """The leaf nodes, left to right."""
        out = []
        stack = [self]
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(reversed(node.children))
            else:
                out.append(node)
        return out

    def words(self) -> List[Optional[str]]:
        """The words of the leaves, left to right (the sentence)."""
        return [leaf.word for leaf in self.leaves()]

    def __len__(self) -> int:
        """Number of nodes in the tree (leaves included)."""
        count = 0
        stack = [self]
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node.children)
        return count

    def height(self) -> int:
        """Number of edges on the longest root-to-leaf path (a leaf has 0)."""
        best = 0
        stack = [(self, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > best:
                best = depth
            for child in node.children:
                stack.append((child, depth + 1))
        return best

    # ----------------------------------------------------------- conversion
    def to_string(self) -> str:
        """Write the tree in PTB bracket notation; inverse of :func:`parse_tree`.

        A leaf without a word is written ``(label)``.  Raises ``ValueError``
        if a label or word is empty or contains whitespace or parentheses.
        """
        parts: List[str] = []
        stack: list = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):  # a closing bracket
                parts.append(item)
                continue
            label = str(item.label)
            _check_atom(label, "label")
            if parts:  # every node but the root follows a label or a sibling
                parts.append(" ")
            if item.children:
                parts.append("(" + label)
                stack.append(")")
                stack.extend(reversed(item.children))
            elif item.word is None:
                parts.append("(" + label + ")")
            else:
                _check_atom(item.word, "word")
                parts.append("(" + label + " " + item.word + ")")
        return "".join(parts)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        if not self.children:
            return f"Tree({self.label!r}, word={self.word!r})"
        return f"Tree({self.label!r}, <{len(self.children)} children>, size={len(self)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tree):
            return NotImplemented
        stack = [(self, other)]
        while stack:
            a, b = stack.pop()
            if (a.label != b.label or a.word != b.word
                    or len(a.children) != len(b.children)):
                return False
            stack.extend(zip(a.children, b.children))
        return True


class _Frame:
    """Parser state for one open bracket."""

    __slots__ = ("label", "children", "word", "pos")

    def __init__(self, pos: int) -> None:
        self.label: Optional[str] = None
        self.children: List[Tree] = []
        self.word: Optional[str] = None
        self.pos = pos


def parse_tree(s: str, label_fn: Optional[Callable[[str], Label]] = None) -> Tree:
    """Parse one tree in PTB bracket notation.

    Args:
        s: the text, e.g. ``"(3 (2 The) (2 Rock))"``.  Tokens are separated
            by ASCII whitespace only, so a U+00A0 inside a word is kept.
        label_fn: optional conversion applied to every label string
            (e.g. ``int``).  If it raises ``ValueError`` the error is reported
            with the label's position.

    Returns:
        The root :class:`Tree`.  ``(label word)`` gives a leaf, ``(label)`` a
        leaf without a word.

    Raises:
        ValueError: on malformed input; the message gives the character
            position (0-based) of the problem.
    """
    stack: List[_Frame] = []
    root: Optional[Tree] = None
    for match in _TOKEN_RE.finditer(s):
        tok = match.group()
        pos = match.start()
        if root is not None:
            raise ValueError(f"unexpected {tok!r} at position {pos} after the end of the tree")
        if tok == "(":
            if stack:
                top = stack[-1]
                if top.label is None:
                    raise ValueError(f"expected a label at position {pos}, got '('")
                if top.word is not None:
                    raise ValueError(f"unexpected '(' at position {pos} after the word of a leaf")
            stack.append(_Frame(pos))
        elif tok == ")":
            if not stack:
                raise ValueError(f"unmatched ')' at position {pos}")
            frame = stack.pop()
            if frame.label is None:
                raise ValueError(f"empty node '()' at position {frame.pos}")
            node = Tree(frame.label, frame.children, frame.word)
            if stack:
                stack[-1].children.append(node)
            else:
                root = node
        else:
            if not stack:
                raise ValueError(f"expected '(' at position {pos}, got {tok!r}")
            top = stack[-1]
            if top.label is None:
                if label_fn is not None:
                    try:
                        top.label = label_fn(tok)
                    except ValueError as exc:
                        raise ValueError(f"bad label {tok!r} at position {pos}: {exc}") from None
                else:
                    top.label = tok
            elif top.children:
                raise ValueError(f"unexpected word {tok!r} at position {pos} after a subtree")
            elif top.word is not None:
                raise ValueError(f"unexpected second word {tok!r} at position {pos} in a leaf")
            else:
                top.word = tok
    if stack:
        raise ValueError(f"unclosed '(' at position {stack[-1].pos} (input ends at {len(s)})")
    if root is None:
        raise ValueError("empty input: no tree found at position 0")
    return root
