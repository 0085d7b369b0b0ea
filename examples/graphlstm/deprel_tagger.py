"""A Graph-LSTM dependency-relation labeller (and its BiLSTM baseline).

Each sentence is a graph whose nodes are its words.  Edges are typed:

* ``next`` (word i -> word i+1) and ``prev`` (i+1 -> i): word order;
* ``head->dep`` and ``dep->head``: the (gold) basic dependency tree.

:class:`dynagraph.GraphLSTMBuilder` splits the graph along the word order into
a forward DAG (edges to a later word) and a backward DAG (edges to an earlier
word) and runs one typed child-sum LSTM over each; a word's state is
``[h_fwd; h_bwd]`` (2H,).  With only the two word-order types, each word has
exactly one predecessor per direction (its left or right neighbour), so the
same code is a bidirectional LSTM: that is the baseline (``graph=False``), so
the two models differ only in the dependency edges.

A word's relation label comes from its state through an MLP
(``tanh(W1 s + b1)``, then a softmax layer).  The inputs are the same for both
models: a word embedding concatenated with a UPOS embedding.

The tagger follows DyNet's save protocol (``spec``, ``param_collection()``,
``from_spec``) and is registered with ``@dy.saveable``, so ``dy.save(path, [model])`` /
``dy.load(path, pc)`` work.
"""
from __future__ import annotations

import dynagraph as dy

EDGE_TYPES = ("next", "prev", "head->dep", "dep->head")


def sentence_edges(heads, graph: bool = True):
    """(source, target, type) edges of a sentence of ``len(heads)`` words.

    ``heads[i]`` is word i's head as in CoNLL-U (1-based, 0 for the root);
    types index :data:`EDGE_TYPES`.  Without ``graph``, only word order.
    """
    n = len(heads)
    edges = [(i, i + 1, 0) for i in range(n - 1)] + [(i + 1, i, 1) for i in range(n - 1)]
    if graph:
        for i, h in enumerate(heads):
            if h:
                edges += [(h - 1, i, 2), (i, h - 1, 3)]
    return edges


@dy.saveable  # dy.load may re-create it (a model file cannot name code to run)
class DeprelTagger:
    """``DeprelTagger(pc, words, tags, labels, graph=True, ...)``.

    ``words``, ``tags``, ``labels``: vocabularies as lists of strings; index 0
    of ``words`` and ``tags`` is the unknown symbol.  ``graph``: use the
    dependency edges (Graph-LSTM) or not (BiLSTM baseline).
    """

    def __init__(self, pc, words, tags, labels, graph: bool = True, word_dim: int = 64, tag_dim: int = 16,
                 hidden_dim: int = 64, mlp_dim: int = 64, dropout: float = 0.2):
        self.words, self.tags, self.labels = list(words), list(tags), list(labels)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.graph = bool(graph)
        self.word_dim, self.tag_dim = int(word_dim), int(tag_dim)
        self.hidden_dim, self.mlp_dim = int(hidden_dim), int(mlp_dim)
        self.dropout = float(dropout)
        self.pc = pc.add_subcollection("deprel-tagger")
        self.E = self.pc.add_lookup_parameters((len(self.words), self.word_dim))
        self.T = self.pc.add_lookup_parameters((len(self.tags), self.tag_dim))
        num_types = len(EDGE_TYPES) if self.graph else 2
        self.encoder = dy.GraphLSTMBuilder(num_types, self.word_dim + self.tag_dim, self.hidden_dim, self.pc)
        self.W1 = self.pc.add_parameters((self.mlp_dim, 2 * self.hidden_dim))
        self.b1 = self.pc.add_parameters((self.mlp_dim,), init=0.0)
        self.W2 = self.pc.add_parameters((len(self.labels), self.mlp_dim))
        self.b2 = self.pc.add_parameters((len(self.labels),), init=0.0)

    # ---- DyNet's save protocol
    @property
    def spec(self):
        return (self.words, self.tags, self.labels, self.graph, self.word_dim, self.tag_dim, self.hidden_dim,
                self.mlp_dim, self.dropout)

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        return DeprelTagger(model, *spec)

    # ---- the network
    def logits(self, forms, upos, heads, train: bool = False):
        """Label scores of every word: one batched expression, ((labels,), n)."""
        drop = self.dropout if train else 0.0
        xs = []
        for form, tag in zip(forms, upos):
            x = dy.concatenate([self.E[self.word_index.get(form, 0)], self.T[self.tag_index.get(tag, 0)]])
            xs.append(dy.dropout(x, drop) if drop else x)
        states = self.encoder.transduce(xs, sentence_edges(heads, self.graph))
        s = dy.concatenate_to_batch(states)                       # ((2H,), n)
        if drop:
            s = dy.dropout(s, drop)
        hidden = dy.tanh(dy.affine_transform([self.b1, self.W1, s]))
        if drop:
            hidden = dy.dropout(hidden, drop)
        return dy.affine_transform([self.b2, self.W2, hidden])

    def loss(self, forms, upos, heads, gold, train: bool = True):
        """Summed cross-entropy over the words; ``gold``: label ids."""
        return dy.sum_batches(dy.pickneglogsoftmax_batch(self.logits(forms, upos, heads, train), list(gold)))
