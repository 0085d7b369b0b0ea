"""A small CoNLL-U reader (Universal Dependencies treebanks).

Each sentence becomes a :class:`Sentence` holding its syntactic words as
:class:`Token` objects.  Multiword-token lines (``1-2``) and empty nodes
(``8.1``) are kept aside, so ``sentence.tokens`` is exactly the sequence a
tagger or a basic-dependency parser needs.  Column values are kept as the
raw strings of the file (``"_"`` included), except ``id`` and ``head``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, Optional, Tuple, Union

from .._safe_files import check_path

__all__ = ["Token", "Sentence", "read_conllu", "parse_conllu"]

PathLike = Union[str, "os.PathLike[str]"]

N_COLUMNS = 10


@dataclass
class Token:
    """One syntactic word (a CoNLL-U line with an integer ID)."""

    id: int
    form: str
    lemma: str
    upos: str
    xpos: str
    feats: str
    head: Optional[int]  # None when the HEAD column is "_"
    deprel: str
    deps: str
    misc: str


@dataclass
class Sentence:
    """One CoNLL-U sentence.

    Attributes:
        tokens: the syntactic words, in order.
        comments: the comment lines, with the leading ``#`` and following
            spaces removed (e.g. ``"sent_id = weblog-0001"``).
        text: the value of the ``# text =`` comment, or ``None``.
        multiword: ``(start, end, form)`` for each multiword-token line.
        empty_nodes: the 10 raw columns of each empty-node line (``8.1``).
    """

    tokens: List[Token] = field(default_factory=list)
    comments: List[str] = field(default_factory=list)
    text: Optional[str] = None
    multiword: List[Tuple[int, int, str]] = field(default_factory=list)
    empty_nodes: List[Tuple[str, ...]] = field(default_factory=list)

    @property
    def sent_id(self) -> Optional[str]:
        """The value of the ``# sent_id =`` comment, or ``None``."""
        for comment in self.comments:
            key, sep, value = comment.partition("=")
            if sep and key.strip() == "sent_id":
                return value.strip()
        return None

    @property
    def words(self) -> List[str]:
        """The FORM column of every syntactic word."""
        return [t.form for t in self.tokens]

    def __len__(self) -> int:
        return len(self.tokens)


def _parse_int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"bad {what} {value!r}") from None


def parse_conllu(lines: Iterable[str], source: str = "<string>") -> Iterator[Sentence]:
    """Yield :class:`Sentence` objects from CoNLL-U lines.

    Args:
        lines: the lines (with or without trailing newlines).
        source: a name used in error messages (usually the file path).

    A sentence ends at a blank line; a last sentence without a trailing
    blank line is still yielded.

    Raises:
        ValueError: ``"{source}:{lineno}: ..."`` for a line without exactly
            10 tab-separated columns or with a malformed ID or HEAD.
    """
    sentence = Sentence()
    started = False
    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            if started:
                yield sentence
            sentence, started = Sentence(), False
            continue
        started = True
        if line.startswith("#"):
            comment = line[1:].strip()
            sentence.comments.append(comment)
            key, sep, value = comment.partition("=")
            if sep and key.strip() == "text":
                sentence.text = value.strip()
            continue
        cols = line.split("\t")
        if len(cols) != N_COLUMNS:
            raise ValueError(
                f"{source}:{lineno}: expected {N_COLUMNS} tab-separated columns, got {len(cols)}")
        try:
            ident = cols[0]
            if "-" in ident:
                start, _, end = ident.partition("-")
                sentence.multiword.append(
                    (_parse_int(start, "multiword ID"), _parse_int(end, "multiword ID"), cols[1]))
            elif "." in ident:
                major, _, minor = ident.partition(".")
                _parse_int(major, "empty-node ID")
                _parse_int(minor, "empty-node ID")
                sentence.empty_nodes.append(tuple(cols))
            else:
                head = None if cols[6] == "_" else _parse_int(cols[6], "HEAD")
                sentence.tokens.append(Token(
                    _parse_int(ident, "ID"), cols[1], cols[2], cols[3], cols[4],
                    cols[5], head, cols[7], cols[8], cols[9]))
        except ValueError as exc:
            raise ValueError(f"{source}:{lineno}: {exc}") from None
    if started:
        yield sentence


def read_conllu(path: PathLike) -> Iterator[Sentence]:
    """Yield the sentences of a CoNLL-U file (see :func:`parse_conllu`).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file and line of a malformed line.
    """
    with open(check_path("read_conllu", "path", path), "r", encoding="utf-8") as f:
        yield from parse_conllu(f, source=os.fspath(path))
