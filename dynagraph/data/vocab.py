"""A token <-> index vocabulary with deterministic ordering."""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any, Dict, Hashable, Iterable, Iterator, List, Optional, Sequence

__all__ = ["Vocab"]


class Vocab:
    """Map tokens to consecutive integer ids.

    Order of the ids: first ``specials`` (in the given order), then ``unk``
    (unless it is ``None`` or already one of the specials), then the tokens
    of ``tokens_iterable`` seen at least ``min_count`` times, by descending
    frequency with ties broken alphabetically.  Tokens added later with
    :meth:`add` get the next free ids.

    Args:
        tokens_iterable: a flat iterable of tokens to count (optional).
        min_count: tokens seen fewer times are left out (they map to unk).
        unk: the unknown-token symbol, or ``None`` for a vocabulary where
            looking up an unknown token raises ``KeyError``.
        specials: extra symbols placed first, e.g. ``("<pad>", "<eos>")``.
    """

    def __init__(self, tokens_iterable: Optional[Iterable[Hashable]] = None,
                 min_count: int = 1, unk: Optional[str] = "<unk>",
                 specials: Sequence[Hashable] = ()) -> None:
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        self._itos: List[Hashable] = []
        self._stoi: Dict[Hashable, int] = {}
        self._frozen = False
        self.unk = unk
        self.specials = tuple(specials)
        for tok in self.specials:
            if tok in self._stoi:
                raise ValueError(f"duplicate special token {tok!r}")
            self._append(tok)
        if unk is not None and unk not in self._stoi:
            self._append(unk)
        if tokens_iterable is not None:
            counts = Counter(tokens_iterable)
            kept = [(tok, c) for tok, c in counts.items()
                    if c >= min_count and tok not in self._stoi]
            # Descending count, then alphabetical (by str, so mixed types sort too).
            kept.sort(key=lambda tc: (-tc[1], str(tc[0])))
            for tok, _ in kept:
                self._append(tok)

    @classmethod
    def build(cls, sentences: Iterable[Iterable[Hashable]], min_count: int = 1,
              unk: Optional[str] = "<unk>", specials: Sequence[Hashable] = ()) -> "Vocab":
        """Build a vocabulary from an iterable of token lists (sentences)."""
        return cls((tok for sent in sentences for tok in sent),
                   min_count=min_count, unk=unk, specials=specials)

    def _append(self, tok: Hashable) -> int:
        index = len(self._itos)
        self._itos.append(tok)
        self._stoi[tok] = index
        return index

    # ---------------------------------------------------------------- growth
    def add(self, tok: Hashable) -> int:
        """Add ``tok`` if new and return its id.

        Raises:
            RuntimeError: if the token is new and the vocabulary is frozen.
        """
        index = self._stoi.get(tok)
        if index is not None:
            return index
        if self._frozen:
            raise RuntimeError(f"cannot add {tok!r}: the vocabulary is frozen")
        return self._append(tok)

    def freeze(self) -> "Vocab":
        """Forbid adding new tokens; returns ``self``."""
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        """Whether :meth:`add` refuses new tokens."""
        return self._frozen

    # ---------------------------------------------------------------- lookup
    @property
    def unk_index(self) -> Optional[int]:
        """The id of the unknown token, or ``None`` without one."""
        return None if self.unk is None else self._stoi[self.unk]

    def __getitem__(self, tok: Hashable) -> int:
        """The id of ``tok``; an unknown token maps to the unk id.

        Raises:
            KeyError: for an unknown token when ``unk`` is ``None``.
        """
        index = self._stoi.get(tok)
        if index is not None:
            return index
        if self.unk is None:
            raise KeyError(f"token {tok!r} is not in the vocabulary "
                           f"(size {len(self._itos)}) and there is no unk token")
        return self._stoi[self.unk]

    def __contains__(self, tok: object) -> bool:
        return tok in self._stoi

    def __len__(self) -> int:
        return len(self._itos)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._itos)

    def token(self, index: int) -> Hashable:
        """The token with id ``index``.

        Raises:
            IndexError: if ``index`` is not in ``0 .. len(self) - 1``.
        """
        i = operator.index(index)
        if not 0 <= i < len(self._itos):
            raise IndexError(f"index {i} out of range for a vocabulary of size {len(self._itos)}")
        return self._itos[i]

    def encode(self, tokens: Iterable[Hashable]) -> List[int]:
        """The ids of ``tokens`` (unknown tokens map as in ``__getitem__``)."""
        return [self[tok] for tok in tokens]

    def decode(self, ids: Iterable[int]) -> List[Hashable]:
        """The tokens of ``ids`` (see :meth:`token`)."""
        return [self.token(i) for i in ids]

    @property
    def tokens(self) -> List[Hashable]:
        """All tokens in id order (a copy)."""
        return list(self._itos)

    # ----------------------------------------------------------- persistence
    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serialisable description, restored by :meth:`from_dict`."""
        return {"tokens": list(self._itos), "unk": self.unk,
                "specials": list(self.specials), "frozen": self._frozen}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Vocab":
        """Rebuild a vocabulary saved with :meth:`to_dict` (same ids)."""
        vocab = cls(unk=None)
        vocab.unk = d.get("unk")
        vocab.specials = tuple(d.get("specials", ()))
        for tok in d["tokens"]:
            if tok in vocab._stoi:
                raise ValueError(f"duplicate token {tok!r} in saved vocabulary")
            vocab._append(tok)
        if vocab.unk is not None and vocab.unk not in vocab._stoi:
            raise ValueError(f"unk token {vocab.unk!r} missing from saved tokens")
        vocab._frozen = bool(d.get("frozen", False))
        return vocab

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, unk={self.unk!r}, frozen={self._frozen})"
