"""Tree-LSTMs (Tai, Socher & Manning 2015): N-ary and child-sum.

Both builders compose a node from an optional input ``x`` (input_dim,) and
the ``(h, c)`` states (hidden_dim,) of its children.  Two ways to drive them:

* DyNet's C++ TreeLSTMBuilder style: ``seq = builder.initial_state()`` (or
  ``builder.start_new_sequence()`` and the builder's own ``add_input``), then
  ``seq.add_input(node_id, children_ids, x)`` in any bottom-up order; it
  returns the node's top-layer h.
* ``builder.encode(tree, leaf_fn, node_fn=None)`` over a
  :class:`dynagraph.data.Tree`: an iterative post-order walk (no recursion
  limit) that returns the root's ``(h, c)`` or, with ``per_node=True``, every
  node's ``(h, c)`` in post-order.

Each node costs a handful of large graph nodes: one affine transform for all
input/output/update gates, and the forget gates of all children at once.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from .._per_graph import PerGraph

__all__ = ["NaryTreeLSTMBuilder", "ChildSumTreeLSTMBuilder", "TreeLSTMSequence"]


def _check_dim(name: str, what: str, e, n: int) -> None:
    shape = e.dim()[0]
    if shape[0] != n or any(d != 1 for d in shape[1:]):
        raise ValueError(f"{name}: expected {what} of dimension ({n},), got {shape}")


class TreeLSTMSequence:
    """The node states of one tree, keyed by node id (DyNet's add_input API)."""

    def __init__(self, builder):
        self.builder = builder
        self.states = {}
        self.last = None

    def add_input(self, node_id, children_ids, x=None):
        """Composes node ``node_id`` from its children's states and input ``x``;
        returns its top-layer h (hidden_dim,)."""
        if node_id in self.states:
            raise ValueError(f"{type(self.builder).__name__}.add_input: node {node_id!r} was already added")
        kids = []
        for cid in children_ids:
            if cid is None or (isinstance(cid, int) and cid < 0):
                kids.append(None)  # an absent child (N-ary position left empty)
                continue
            try:
                kids.append(self.states[cid])
            except KeyError:
                raise ValueError(f"{type(self.builder).__name__}.add_input: child {cid!r} of node {node_id!r} "
                                 "has not been added yet") from None
        state = self.builder.compose(x, kids)
        self.states[node_id] = state
        self.last = node_id
        return state[0][-1]

    def h(self, node_id):
        return self.states[node_id][0][-1]

    def c(self, node_id):
        return self.states[node_id][1][-1]

    def back(self):
        """The h of the node added last."""
        return self.h(self.last)


class _TreeBuilderBase:
    """Shared driver: sequences, ``encode`` and parameter bookkeeping."""

    _name = "tree-lstm-builder"

    def _setup(self, model, layers, input_dim, hidden_dim):
        if layers < 1 or input_dim < 1 or hidden_dim < 1:
            raise ValueError(f"{type(self).__name__}: layers, input_dim and hidden_dim must be >= 1, "
                             f"got {layers}, {input_dim}, {hidden_dim}")
        self.layers, self.input_dim, self.hidden_dim = layers, input_dim, hidden_dim
        self._pc = model.add_subcollection(self._name)
        self._param_exprs = PerGraph(lambda: [[_core.parameter(p) for p in layer] for layer in self._params])
        self._seq = None

    def param_collection(self):
        return self._pc

    def get_parameters(self) -> list:
        return [list(layer) for layer in self._params]

    def _exprs(self):
        return self._param_exprs.get()

    def initial_state(self) -> TreeLSTMSequence:
        return TreeLSTMSequence(self)

    def start_new_sequence(self) -> TreeLSTMSequence:
        self._seq = TreeLSTMSequence(self)
        return self._seq

    def add_input(self, node_id, children_ids, x=None):
        if self._seq is None:
            self.start_new_sequence()
        return self._seq.add_input(node_id, children_ids, x)

    def compose(self, x, children):
        """One node: ``x`` (input_dim,) or None; ``children`` a list of states
        ``(hs, cs)`` (per-layer tuples) or None for absent ones.  Returns the
        node's state ``(hs, cs)``."""
        name = type(self).__name__
        if x is not None:
            _check_dim(name, "an input", x, self.input_dim)
        elif not any(k is not None for k in children):
            raise ValueError(f"{name}: a node needs an input or at least one child")
        self._check_children(children)
        exprs = self._exprs()
        hs, cs = [], []
        for layer in range(self.layers):
            kids = [None if k is None else (k[0][layer], k[1][layer]) for k in children]
            h, c = self._cell(exprs[layer], layer, x, kids)
            hs.append(h)
            cs.append(c)
            x = h
        return tuple(hs), tuple(cs)

    def _check_children(self, children):
        pass

    def encode(self, tree, leaf_fn, node_fn=None, per_node: bool = False):
        """Runs the Tree-LSTM over ``tree`` bottom-up (iteratively).

        ``leaf_fn(leaf)`` gives a leaf's input (input_dim,); ``node_fn(node)``
        an internal node's input or None (default: no input).  Returns the
        root's top-layer ``(h, c)``, or with ``per_node`` a list of every node's
        ``(node, h, c)`` in post-order."""
        stack, out = [], []
        for node in tree.nodes():
            if node.children:
                k = len(node.children)
                kids = stack[-k:]
                del stack[-k:]
                x = node_fn(node) if node_fn is not None else None
            else:
                kids, x = [], leaf_fn(node)
            state = self.compose(x, kids)
            stack.append(state)
            if per_node:
                out.append((node, state[0][-1], state[1][-1]))
        if per_node:
            return out
        return stack[0][0][-1], stack[0][1][-1]

    def whoami(self) -> str:
        return type(self).__name__


class NaryTreeLSTMBuilder(_TreeBuilderBase):
    """N-ary Tree-LSTM: each of the (at most) N children has its own position::

        [a_i; a_o; a_u; a_f1..a_fN] = W x + Σ_k U_k h_k + b        ((3+N)H,)
        i, o = σ(a_i), σ(a_o)    u = tanh(a_u)    f_k = σ(a_fk)
        c = i ∘ u + Σ_k f_k ∘ c_k        h = o ∘ tanh(c)

    Per layer: W ((3+N)H, I), U_1 .. U_N ((3+N)H, H), b ((3+N)H,) (forget
    parts 1, the rest 0).  Absent children (fewer than N, or None) count as
    zero states.  ``NaryTreeLSTMBuilder(N, input_dim, hidden_dim, model)`` or,
    as DyNet's C++, ``NaryTreeLSTMBuilder(N, layers, input_dim, hidden_dim, model)``.
    """

    _name = "nary-tree-lstm-builder"

    def __init__(self, N, *args):
        if len(args) == 3:
            layers, (input_dim, hidden_dim, model) = 1, args
        elif len(args) == 4:
            layers, input_dim, hidden_dim, model = args
        else:
            raise TypeError("NaryTreeLSTMBuilder(N, [layers,] input_dim, hidden_dim, model)")
        self.N = int(N)
        if self.N < 1:
            raise ValueError(f"NaryTreeLSTMBuilder: N must be >= 1, got {N}")
        self._setup(model, int(layers), int(input_dim), int(hidden_dim))
        H, G = self.hidden_dim, (3 + self.N) * self.hidden_dim
        bias = [0.0] * (3 * H) + [1.0] * (self.N * H)
        self._params = []
        for layer in range(self.layers):
            in_dim = self.input_dim if layer == 0 else H
            W = self._pc.add_parameters((G, in_dim))
            Us = [self._pc.add_parameters((G, H)) for _ in range(self.N)]
            b = self._pc.add_parameters((G,), init=np.array(bias, dtype=np.float32))
            self._params.append([W] + Us + [b])

    def _check_children(self, children):
        if len(children) > self.N:
            raise ValueError(f"NaryTreeLSTMBuilder: a node has at most N={self.N} children, got {len(children)}")

    def _cell(self, p, layer, x, kids):
        H, N = self.hidden_dim, self.N
        terms = [p[-1]]
        if x is not None:
            terms += [p[0], x]
        for k, kid in enumerate(kids):
            if kid is not None:
                terms += [p[1 + k], kid[0]]
        a = _core.affine_transform(terms)
        io = _core.logistic(_core.pickrange(a, 0, 2 * H))
        u = _core.tanh(_core.pickrange(a, 2 * H, 3 * H))
        parts = [_core.cmult(_core.pickrange(io, 0, H), u)]
        present = [(k, kid) for k, kid in enumerate(kids) if kid is not None]
        if present:
            f = _core.logistic(_core.pickrange(a, 3 * H, (3 + N) * H))
            for k, kid in present:
                parts.append(_core.cmult(_core.pickrange(f, k * H, (k + 1) * H), kid[1]))
        c = parts[0] if len(parts) == 1 else _core.esum(parts)
        return _core.cmult(_core.pickrange(io, H, 2 * H), _core.tanh(c)), c

    @property
    def spec(self):
        return (self.N, self.layers, self.input_dim, self.hidden_dim)

    @staticmethod
    def from_spec(spec, model):
        return NaryTreeLSTMBuilder(*spec, model)


class _TypedSumCell:
    """Child-sum composition with typed children (Graph-LSTM generalises the tree)::

        [a_i; a_o; a_u] = W_iou x + Σ_m U_iou^m (Σ_{k of type m} h_k) + b_iou   (3H,)
        f_k = σ(W_f x + U_f^{m(k)} h_k + b_f)                                   (H,)
        c = σ(a_i) ∘ tanh(a_u) + Σ_k f_k ∘ c_k        h = σ(a_o) ∘ tanh(c)

    Parameters in creation order: W_iou (3H, I), b_iou (3H,), W_f (H, I),
    b_f (H,) (ones), then per type m: U_iou^m (3H, H), U_f^m (H, H).
    """

    def __init__(self, pc, input_dim, hidden_dim, num_types):
        H, I = hidden_dim, input_dim
        self.hidden_dim, self.input_dim, self.num_types = H, I, num_types
        self.params = [pc.add_parameters((3 * H, I)), pc.add_parameters((3 * H,), init=0.0),
                       pc.add_parameters((H, I)), pc.add_parameters((H,), init=1.0)]
        for _ in range(num_types):
            self.params += [pc.add_parameters((3 * H, H)), pc.add_parameters((H, H))]

    def __call__(self, p, x, kids):
        """``kids``: list of (h, c, type)."""
        H = self.hidden_dim
        terms = [p[1]] + ([p[0], x] if x is not None else [])
        by_type = {}
        for h, c, m in kids:
            by_type.setdefault(m, []).append((h, c))
        for m, group in by_type.items():
            hsum = group[0][0] if len(group) == 1 else _core.esum([h for h, _ in group])
            terms += [p[4 + 2 * m], hsum]
        a = _core.affine_transform(terms)
        io = _core.logistic(_core.pickrange(a, 0, 2 * H))
        parts = [_core.cmult(_core.pickrange(io, 0, H), _core.tanh(_core.pickrange(a, 2 * H, 3 * H)))]
        if kids:
            fx = p[3] if x is None else _core.affine_transform([p[3], p[2], x])
            for m, group in by_type.items():
                if len(group) == 1:
                    f = _core.logistic(_core.affine_transform([fx, p[5 + 2 * m], group[0][0]]))
                    parts.append(_core.cmult(f, group[0][1]))
                    continue
                hmat = _core.concatenate_cols([h for h, _ in group])           # (H, K)
                cmat = _core.concatenate_cols([c for _, c in group])           # (H, K)
                f = _core.logistic(p[5 + 2 * m] * hmat + fx)                   # (H, K)
                parts.append(_core.cmult(f, cmat) * _core.ones((len(group),)))  # Σ_k over columns
        c = parts[0] if len(parts) == 1 else _core.esum(parts)
        return _core.cmult(_core.pickrange(io, H, 2 * H), _core.tanh(c)), c


class ChildSumTreeLSTMBuilder(_TreeBuilderBase):
    """Child-sum Tree-LSTM: any number of unordered children (see ``_TypedSumCell``,
    with one child type).  Parameters: W_iou (3H, I), b_iou (3H,), W_f (H, I),
    b_f (H,), U_iou (3H, H), U_f (H, H)."""

    _name = "child-sum-tree-lstm-builder"

    def __init__(self, input_dim, hidden_dim, model):
        self._setup(model, 1, int(input_dim), int(hidden_dim))
        self._cellfn = _TypedSumCell(self._pc, self.input_dim, self.hidden_dim, 1)
        self._params = [self._cellfn.params]

    def _cell(self, p, layer, x, kids):
        return self._cellfn(p, x, [(h, c, 0) for h, c in (k for k in kids if k is not None)])

    @property
    def spec(self):
        return (self.input_dim, self.hidden_dim)

    @staticmethod
    def from_spec(spec, model):
        return ChildSumTreeLSTMBuilder(*spec, model)
