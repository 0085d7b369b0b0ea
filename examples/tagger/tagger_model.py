"""A BiLSTM-CRF part-of-speech tagger with character-level word features.

For a sentence ``w_1..w_T``::

    x_t  = [E_word[lower(w_t)] ; charBiLSTM(w_t)]          word_dim + char_hidden
    h_t  = [LSTM_fwd(x_1..x_t) ; LSTM_bwd(x_T..x_t)]        hidden
    e_t  = W h_t + b                                        (K,) tag scores
    p(y | w) = CRF(e_1..e_T)                                linear chain, trained by -log p

``charBiLSTM(w)`` runs a forward and a backward LSTM over the characters of
``w`` and concatenates their last outputs, so a word never seen in training
still gets a representation from its spelling (suffixes, capitals, digits).

Batching: :meth:`BiLSTMCRFTagger.emissions` takes B sentences *of one length*
and builds one graph in which every step carries the batch of B positions
(``lookup_batch``; the CRF's loss is batched too).  A single sentence is the
case B = 1, which is what the autobatching mode builds for each sentence.
Inside a call, the character BiLSTM runs once per distinct word, with the words
of one length batched together.

The tagger follows DyNet's save protocol (``spec``, ``param_collection()``,
``from_spec``) and is registered with ``@dy.saveable``, so ``dy.save(path, [tagger])`` /
``dy.load(path, pc)`` work.
"""
from __future__ import annotations

import dynagraph as dy
from dynagraph.builders import CRF

UNK = "<unk>"


def normalize(word: str) -> str:
    """The key of a word's embedding: lower-cased (the characters keep the case)."""
    return word.lower()


@dy.saveable  # dy.load may re-create it (a model file cannot name code to run)
class BiLSTMCRFTagger:
    """``BiLSTMCRFTagger(pc, words, chars, tags, ...)``.

    ``words``/``chars``: vocabularies (lists of strings, index 0 the unknown
    symbol); ``tags``: the tag set (list of strings).  ``hidden`` is the size
    of the sentence BiLSTM's output (``hidden // 2`` per direction), likewise
    ``char_hidden`` for the character BiLSTM.
    """

    def __init__(self, pc, words, chars, tags, word_dim: int = 100, char_dim: int = 30,
                 char_hidden: int = 50, hidden: int = 200, dropout: float = 0.33):
        if hidden % 2 or char_hidden % 2:
            raise ValueError(f"hidden and char_hidden must be even, got {hidden} and {char_hidden}")
        self.words, self.chars, self.tags = list(words), list(chars), list(tags)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.word_dim, self.char_dim, self.char_hidden = int(word_dim), int(char_dim), int(char_hidden)
        self.hidden, self.dropout = int(hidden), float(dropout)
        self.pc = pc.add_subcollection("bilstm-crf-tagger")
        self.E = self.pc.add_lookup_parameters((len(self.words), self.word_dim))
        self.C = self.pc.add_lookup_parameters((len(self.chars), self.char_dim))
        half_c, half = self.char_hidden // 2, self.hidden // 2
        self.char_fwd = dy.VanillaLSTMBuilder(1, self.char_dim, half_c, self.pc)
        self.char_bwd = dy.VanillaLSTMBuilder(1, self.char_dim, half_c, self.pc)
        in_dim = self.word_dim + self.char_hidden
        self.fwd = dy.VanillaLSTMBuilder(1, in_dim, half, self.pc)
        self.bwd = dy.VanillaLSTMBuilder(1, in_dim, half, self.pc)
        self.W = self.pc.add_parameters((len(self.tags), self.hidden))
        self.b = self.pc.add_parameters((len(self.tags),), init=0.0)
        self.crf = CRF(len(self.tags), self.pc)

    # ---- DyNet's save protocol
    @property
    def spec(self):
        return (self.words, self.chars, self.tags, self.word_dim, self.char_dim, self.char_hidden,
                self.hidden, self.dropout)

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        return BiLSTMCRFTagger(model, *spec)

    # ---- ids
    def word_id(self, word: str) -> int:
        return self.word_index.get(normalize(word), 0)

    def tag_ids(self, tags) -> list:
        return [self.tag_index[t] for t in tags]

    def char_ids(self, word: str) -> list:
        return [self.char_index.get(c, 0) for c in word]

    # ---- the network
    def _char_features(self, words, train: bool) -> tuple:
        """Character BiLSTM features of the distinct ``words``: ``(reps, where)``.

        ``reps`` is a (char_hidden,) expression with one batch element per
        distinct word, ``where[word]`` that word's batch index.
        """
        by_length: dict = {}
        for w in dict.fromkeys(words):
            by_length.setdefault(len(w), []).append(w)
        groups, where = [], {}
        for length in sorted(by_length):
            group = by_length[length]
            ids = [self.char_ids(w) for w in group]
            xs = [dy.lookup_batch(self.C, [seq[t] for seq in ids]) for t in range(length)]
            if train and self.dropout:
                xs = [dy.dropout(x, self.dropout) for x in xs]
            f = self.char_fwd.initial_state().transduce(xs)[-1]
            b = self.char_bwd.initial_state().transduce(reversed(xs))[-1]
            for w in group:
                where[w] = len(where)
            groups.append(dy.concatenate([f, b]))
        reps = groups[0] if len(groups) == 1 else dy.concatenate_to_batch(groups)
        return reps, where

    def emissions(self, sentences, train: bool = False, word_ids=None) -> list:
        """Tag scores for B sentences of equal length T: T expressions (K,) x B.

        ``word_ids``: optional (B lists of T) embedding ids to use instead of
        the words' own (training replaces rare words by the unknown id).
        """
        T = len(sentences[0])
        if any(len(s) != T for s in sentences):
            raise ValueError("emissions: the sentences of one call must have the same length")
        if word_ids is None:
            word_ids = [[self.word_id(w) for w in s] for s in sentences]
        reps, where = self._char_features([w for s in sentences for w in s], train)
        xs = []
        for t in range(T):
            wemb = dy.lookup_batch(self.E, [ids[t] for ids in word_ids])
            cemb = dy.pick_batch_elems(reps, [where[s[t]] for s in sentences])
            x = dy.concatenate([wemb, cemb])
            xs.append(dy.dropout(x, self.dropout) if train and self.dropout else x)
        fs = self.fwd.initial_state().transduce(xs)
        bs = self.bwd.initial_state().transduce(reversed(xs))
        W, b = dy.parameter(self.W), dy.parameter(self.b)
        out = []
        for f, bk in zip(fs, reversed(bs)):
            h = dy.concatenate([f, bk])
            if train and self.dropout:
                h = dy.dropout(h, self.dropout)
            out.append(dy.affine_transform([b, W, h]))
        return out

    def loss(self, sentences, tag_ids, word_ids=None):
        """Summed CRF negative log-likelihood of B equal-length sentences: a (1,) expression."""
        em = self.emissions(sentences, train=True, word_ids=word_ids)
        return dy.sum_batches(self.crf.neg_log_loss(em, tag_ids))

    def predict(self, sentences) -> list:
        """Viterbi tag ids for B equal-length sentences (a list of B lists), in the current graph."""
        em = self.emissions(sentences, train=False)
        dy.forward(em)
        best = self.crf.viterbi(em)
        return [best[0]] if len(sentences) == 1 else [path for path, _ in best]
