"""Readers for plain-text corpora: SST sentiment trees and Mikolov's PTB.

Both readers are generators: they stream the file line by line.
"""

from __future__ import annotations

import os
from typing import Iterator, List, Optional, Union

from .._safe_files import check_path
from .trees import Tree, parse_tree

__all__ = ["read_sst_trees", "read_ptb_lm"]

PathLike = Union[str, "os.PathLike[str]"]

# Lines are stripped of ASCII whitespace only; U+00A0 may be part of a token.
_ASCII_WS = " \t\n\r\f\v"


def _sst_label(tok: str) -> int:
    value = int(tok)
    if not 0 <= value <= 4:
        raise ValueError(f"sentiment label must be in 0..4, got {value}")
    return value


def read_sst_trees(path: PathLike) -> Iterator[Tree]:
    """Yield one :class:`~dynagraph.data.trees.Tree` per line of an SST file.

    The Stanford Sentiment Treebank files (``train.txt``, ``dev.txt``,
    ``test.txt``) hold one binarized tree per line in PTB bracket notation,
    with a sentiment label 0-4 on every node.  Labels are converted to
    ``int``; tokens are split on ASCII whitespace only (some SST tokens
    contain a no-break space, U+00A0).  Blank lines are skipped.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: on a malformed line or a label outside 0-4; the message
            starts with ``"{path}:{lineno}: "``.
    """
    with open(check_path("read_sst_trees", "path", path), "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip(_ASCII_WS)
            if not line:
                continue
            try:
                tree = parse_tree(line, label_fn=_sst_label)
            except ValueError as exc:
                raise ValueError(f"{os.fspath(path)}:{lineno}: {exc}") from None
            for leaf in tree.leaves():
                if leaf.word is None:
                    raise ValueError(
                        f"{os.fspath(path)}:{lineno}: leaf with label {leaf.label} has no word")
            yield tree


def read_ptb_lm(path: PathLike, eos: Optional[str] = "<eos>") -> Iterator[List[str]]:
    """Yield the tokens of each non-empty line of a language-modelling file.

    Meant for Mikolov's Penn Treebank (``ptb.train.txt`` etc.): one sentence
    per line, tokens separated by whitespace.  ``eos`` (default ``"<eos>"``)
    is appended to every sentence unless it is ``None``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
    """
    with open(check_path("read_ptb_lm", "path", path), "r", encoding="utf-8") as f:
        for line in f:
            tokens = line.split()
            if not tokens:
                continue
            if eos is not None:
                tokens.append(eos)
            yield tokens
