"""Softmax output layers: the full softmax and the class-factored softmax.

Both map a representation ``x`` of shape ``(rep_dim,)`` (batched or not) to a
distribution over labels and give the negative log-likelihood of a label:

* :class:`StandardSoftmaxBuilder`: ``p(c | x) = softmax(W x + b)[c]`` with
  ``W`` of shape ``(num_labels, rep_dim)``.
* :class:`ClassFactoredSoftmaxBuilder`: words are grouped into classes
  (clusters) read from a file, and ``p(w | x) = p(class(w) | x) * p(w | class(w), x)``.
  Each factor is a small softmax, so training costs ``O(#classes + class size)``
  per word instead of ``O(vocabulary)``.

Parameters are made in a sub-collection of ``model`` in DyNet's order, so that
``param_collection().parameters_list()`` lines up with DyNet's.
"""
from __future__ import annotations

import numpy as np

from . import _config, _core
from ._per_graph import PerGraph
from ._safe_files import check_path
from ._core import Expression

__all__ = ["SoftmaxBuilder", "StandardSoftmaxBuilder", "ClassFactoredSoftmaxBuilder"]


def _batch(x: Expression) -> int:
    return x.dim()[1]


def _check_batch(name: str, x: Expression, classidxs) -> list:
    idx = [int(c) for c in classidxs]
    if _batch(x) != len(idx):
        raise ValueError(f"Inputs of {name}::neg_log_softmax should have same batch size, got {_batch(x)} "
                         f"for rep and {len(idx)} for classidxs")
    return idx


def _sample_index(logp: np.ndarray) -> int:
    p = np.exp(np.asarray(logp, dtype=np.float64) - np.max(logp))
    return int(_config.rng().choice(p.size, p=p / p.sum()))


class SoftmaxBuilder:
    """Interface of softmax layers over ``C`` classes: ``p(c | x) ∝ exp(W_c · x + b_c)``."""

    _name = "softmax-builder"

    def __init__(self, model):
        self._pc = model.add_subcollection(self._name)
        self._params: list = []
        self._param_exprs = PerGraph(lambda update: [(_core.parameter if update else _core.const_parameter)(p)
                                                      for p in self._params])

    # ---- parameters
    def param_collection(self):
        """The sub-collection holding this layer's parameters (weights first, then biases)."""
        return self._pc

    def _exprs(self, update: bool) -> list:
        """This graph's expressions of the parameters, made once per graph."""
        return self._param_exprs.get(update)

    # ---- the interface
    def neg_log_softmax(self, x: Expression, c: int, update: bool = True) -> Expression:
        """``-log p(c | x)``: shape (1,). ``update=False`` keeps the parameters fixed."""
        raise NotImplementedError

    def neg_log_softmax_batch(self, x: Expression, c, update: bool = True) -> Expression:
        """``-log p(c_b | x_b)`` for a batched ``x``, one class per batch element: shape (1,), batch kept."""
        raise NotImplementedError

    def sample(self, x: Expression) -> int:
        """A class drawn from ``p(· | x)`` (``x`` not batched)."""
        raise NotImplementedError

    def full_log_distribution(self, x: Expression, update: bool = True) -> Expression:
        """``log p(c | x)`` for every class: shape (C,). Costs O(C): avoid in training loops."""
        raise NotImplementedError

    def full_logits(self, x: Expression, update: bool = True) -> Expression:
        """Scores whose softmax is ``p(· | x)``: shape (C,)."""
        raise NotImplementedError


class StandardSoftmaxBuilder(SoftmaxBuilder):
    """Softmax over ``num_labels`` classes: ``log_softmax(W x + b)``.

    rep_dim: length of the input vectors ``x``.
    num_labels: number of classes ``C``.
    model: the ParameterCollection to create ``W`` (C, rep_dim) and ``b`` (C,) in.
    bias: whether there is a bias ``b`` (zeros at start).
    """

    _name = "standard-softmax-builder"

    def __init__(self, rep_dim: int, num_labels: int, model, bias: bool = True):
        rep_dim, num_labels = int(rep_dim), int(num_labels)
        if rep_dim < 1 or num_labels < 1:
            raise ValueError(f"StandardSoftmaxBuilder: rep_dim and num_labels must be >= 1, got {rep_dim}, {num_labels}")
        super().__init__(model)
        self.rep_dim, self.num_labels, self.bias = rep_dim, num_labels, bool(bias)
        self._params = [self._pc.add_parameters((num_labels, rep_dim))]
        if self.bias:
            self._params.append(self._pc.add_parameters((num_labels,), init=0.0))
        self.spec = (rep_dim, num_labels, self.bias)

    @staticmethod
    def from_spec(spec, model) -> "StandardSoftmaxBuilder":
        rep_dim, num_labels, bias = spec
        return StandardSoftmaxBuilder(rep_dim, num_labels, model, bias)

    def full_logits(self, x: Expression, update: bool = True) -> Expression:
        """``W x + b``: shape (num_labels,), batch of ``x``."""
        ps = self._exprs(update)
        return _core.affine_transform([ps[1], ps[0], x]) if self.bias else ps[0] * x

    def full_log_distribution(self, x: Expression, update: bool = True) -> Expression:
        return _core.log_softmax(self.full_logits(x, update))

    def neg_log_softmax(self, x: Expression, c: int, update: bool = True) -> Expression:
        return _core.pickneglogsoftmax(self.full_logits(x, update), int(c))

    def neg_log_softmax_batch(self, x: Expression, c, update: bool = True) -> Expression:
        idx = _check_batch("StandardSoftmaxBuilder", x, c)
        return _core.pickneglogsoftmax_batch(self.full_logits(x, update), idx)

    def sample(self, x: Expression) -> int:
        if _batch(x) != 1:
            raise ValueError(f"StandardSoftmaxBuilder.sample: x must not be batched, got batch {_batch(x)}")
        return _sample_index(self.full_log_distribution(x).npvalue())


def read_cluster_file(cluster_file: str, word_dict: dict) -> list:
    """Reads a word-class file: one ``class<TAB>word`` per line (more columns, e.g. counts, ignored).

    Returns the classes in order of first appearance as ``[(class_name, [word ids])]``,
    word ids taken from ``word_dict`` (word -> id, ids 0..len-1). Every word of
    ``word_dict`` must appear exactly once in the file.
    """
    ids = sorted(int(v) for v in word_dict.values())
    if ids != list(range(len(ids))):
        raise ValueError("ClassFactoredSoftmaxBuilder: word_dict should have unique ids from 0 to num_classes - 1")
    clusters: dict = {}
    seen: dict = {}
    with open(check_path("read_cluster_file", "cluster_file", cluster_file), encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{cluster_file}:{lineno}: expected 'class<TAB>word', got {line.rstrip()!r}")
            cname, word = fields[0], fields[1]
            if word not in word_dict:
                raise ValueError(f"{cluster_file}:{lineno}: word {word!r} is not in word_dict")
            if word in seen:
                raise ValueError(f"{cluster_file}:{lineno}: word {word!r} already listed on line {seen[word]}")
            seen[word] = lineno
            clusters.setdefault(cname, []).append(int(word_dict[word]))
    missing = [w for w in word_dict if w not in seen]
    if missing:
        raise ValueError(f"ClassFactoredSoftmaxBuilder: {len(missing)} words of word_dict have no class in "
                         f"{cluster_file} (first: {missing[0]!r})")
    return list(clusters.items())


class ClassFactoredSoftmaxBuilder(SoftmaxBuilder):
    """Class-factored softmax: ``p(w | x) = p(class(w) | x) * p(w | class(w), x)``.

    rep_dim: length of the input vectors ``x``.
    cluster_file: the word classes, one ``class<TAB>word`` per line (see :func:`read_cluster_file`).
    word_dict: word -> id, ids 0..V-1; ``neg_log_softmax`` takes these ids.
    model: the ParameterCollection to create the parameters in: the class
    layer (K, rep_dim) and (K,), then for every class of more than one word its
    word layer (size, rep_dim) and (size,) (biases only when ``bias``).
    """

    _name = "class-factored-softmax-builder"

    def __init__(self, rep_dim: int, cluster_file: str, word_dict: dict, model, bias: bool = True):
        self._setup(int(rep_dim), read_cluster_file(cluster_file, word_dict), dict(word_dict), model, bool(bias))

    def _setup(self, rep_dim: int, clusters: list, word_dict: dict, model, bias: bool) -> None:
        if rep_dim < 1:
            raise ValueError(f"ClassFactoredSoftmaxBuilder: rep_dim must be >= 1, got {rep_dim}")
        SoftmaxBuilder.__init__(self, model)
        self.rep_dim, self.bias = rep_dim, bias
        self.cluster_names = [name for name, _ in clusters]
        self.cluster_words = [list(words) for _, words in clusters]
        self.num_words = sum(len(ws) for ws in self.cluster_words)
        self._word_cluster = np.empty(self.num_words, dtype=np.int64)  # word id -> class
        self._word_pos = np.empty(self.num_words, dtype=np.int64)      # word id -> index in its class
        for c, words in enumerate(self.cluster_words):
            for pos, w in enumerate(words):
                self._word_cluster[w], self._word_pos[w] = c, pos
        k = len(clusters)
        self._params = [self._pc.add_parameters((k, rep_dim))] + ([self._pc.add_parameters((k,), init=0.0)] if bias else [])
        self._sub_slot = []  # class -> index of its word layer in _params, or None for one-word classes
        for words in self.cluster_words:
            if len(words) == 1:
                self._sub_slot.append(None)
                continue
            self._sub_slot.append(len(self._params))
            self._params.append(self._pc.add_parameters((len(words), rep_dim)))
            if bias:
                self._params.append(self._pc.add_parameters((len(words),), init=0.0))
        # the classes inline, so that dy.load needs no cluster file
        self.spec = (rep_dim, [[n, ws] for n, ws in clusters], word_dict, bias)

    @staticmethod
    def from_spec(spec, model) -> "ClassFactoredSoftmaxBuilder":
        rep_dim, clusters, word_dict, bias = spec
        self = ClassFactoredSoftmaxBuilder.__new__(ClassFactoredSoftmaxBuilder)
        self._setup(rep_dim, [(n, list(ws)) for n, ws in clusters], dict(word_dict), model, bias)
        return self

    # ---- pieces
    def _affine(self, slot: int, x: Expression, update: bool) -> Expression:
        ps = self._exprs(update)
        return _core.affine_transform([ps[slot + 1], ps[slot], x]) if self.bias else ps[slot] * x

    def _check_class(self, classid) -> int:
        c = int(classid)
        if not 0 <= c < len(self.cluster_words):
            raise IndexError(f"ClassFactoredSoftmaxBuilder: class {c} out of range for {len(self.cluster_words)} classes")
        return c

    def _check_word(self, w) -> int:
        w = int(w)
        if not 0 <= w < self.num_words:
            raise IndexError(f"ClassFactoredSoftmaxBuilder: word id {w} out of range for {self.num_words} words")
        return w

    def class_logits(self, x: Expression, update: bool = True) -> Expression:
        """Scores of the classes: shape (#classes,)."""
        return self._affine(0, x, update)

    def class_log_distribution(self, x: Expression, update: bool = True) -> Expression:
        """``log p(class | x)``: shape (#classes,)."""
        return _core.log_softmax(self.class_logits(x, update))

    def subclass_logits(self, x: Expression, classid: int, update: bool = True) -> Expression:
        """Scores of the words of class ``classid``: shape (class size,) (a single 0 for one-word classes)."""
        c = self._check_class(classid)
        if self._sub_slot[c] is None:
            axes, batch = x.dim()
            return _core.zeros((1,), batch_size=batch)
        return self._affine(self._sub_slot[c], x, update)

    def subclass_log_distribution(self, x: Expression, classid: int, update: bool = True) -> Expression:
        """``log p(word | classid, x)`` over the words of class ``classid``, in file order."""
        return _core.log_softmax(self.subclass_logits(x, classid, update))

    # ---- the interface
    def neg_log_softmax(self, x: Expression, c: int, update: bool = True) -> Expression:
        w = self._check_word(c)
        cl = int(self._word_cluster[w])
        loss = _core.pickneglogsoftmax(self.class_logits(x, update), cl)
        if self._sub_slot[cl] is None:
            return loss
        return loss + _core.pickneglogsoftmax(self.subclass_logits(x, cl, update), int(self._word_pos[w]))

    def neg_log_softmax_batch(self, x: Expression, c, update: bool = True) -> Expression:
        words = [self._check_word(w) for w in _check_batch("ClassFactoredSoftmaxBuilder", x, c)]
        classes = [int(self._word_cluster[w]) for w in words]
        loss = _core.pickneglogsoftmax_batch(self.class_logits(x, update), classes)
        if len(set(classes)) == 1:  # one class for the whole batch: one batched word layer
            cl = classes[0]
            if self._sub_slot[cl] is None:
                return loss
            pos = [int(self._word_pos[w]) for w in words]
            return loss + _core.pickneglogsoftmax_batch(self.subclass_logits(x, cl, update), pos)
        parts = []
        for b, (w, cl) in enumerate(zip(words, classes)):
            if self._sub_slot[cl] is None:
                parts.append(_core.zeros((1,)))
            else:
                xb = _core.pick_batch_elem(x, b)
                parts.append(_core.pickneglogsoftmax(self.subclass_logits(xb, cl, update), int(self._word_pos[w])))
        return loss + _core.concatenate_to_batch(parts)

    def full_log_distribution(self, x: Expression, update: bool = True) -> Expression:
        """``log p(w | x)`` for every word id: shape (V,). Builds one word layer per class: slow."""
        cld = self.class_log_distribution(x, update)
        pieces, order = [], []
        for c, words in enumerate(self.cluster_words):
            log_pc = _core.pick(cld, c)
            if self._sub_slot[c] is None:
                pieces.append(log_pc)
            else:
                pieces.append(self.subclass_log_distribution(x, c, update) + log_pc)
            order.extend(words)
        joint = _core.concatenate(pieces)  # in class order
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[np.asarray(order)] = np.arange(len(order))
        return _core.select_rows(joint, [int(i) for i in inverse])

    def full_logits(self, x: Expression, update: bool = True) -> Expression:
        """Scores whose softmax is ``p(· | x)``: here ``log p(w | x)`` itself, shape (V,)."""
        return self.full_log_distribution(x, update)

    def sample(self, x: Expression) -> int:
        if _batch(x) != 1:
            raise ValueError(f"ClassFactoredSoftmaxBuilder.sample: x must not be batched, got batch {_batch(x)}")
        c = _sample_index(self.class_log_distribution(x).npvalue())
        words = self.cluster_words[c]
        if len(words) == 1:
            return words[0]
        return words[_sample_index(self.subclass_log_distribution(x, c).npvalue())]
