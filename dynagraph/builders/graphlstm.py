"""Graph LSTM (Peng, Poon, Quirk, Toutanova & Yih 2017).

Nodes (e.g. the words of a document) are linked by typed, directed edges
(adjacency, syntactic dependencies, discourse, coreference ...).  The graph
may have cycles, so it is split, along a node order, into two DAGs:

* forward:  edges ``i -> j`` with ``pos(i) < pos(j)``, processed in order;
* backward: edges ``i -> j`` with ``pos(i) > pos(j)``, processed in reverse.

Each DAG is a topological order by construction, so there is never a cycle
to follow.  A node's state comes from its input and its predecessors in that
DAG, with one recurrent matrix per edge type (see ``_TypedSumCell``): the
predecessors' h are summed per type for the input/output/update gates, and
each predecessor gets its own forget gate.  The output per node is
``[h_fwd; h_bwd]`` (2H,).  Self-loops carry no information and are ignored.
"""
from __future__ import annotations

from .. import _core
from .._per_graph import PerGraph
from .treelstm import _check_dim, _TypedSumCell

__all__ = ["GraphLSTMBuilder"]


class GraphLSTMBuilder:
    """``GraphLSTMBuilder(num_edge_types, input_dim, hidden_dim, model)``.

    Parameters: a forward and a backward cell, each W_iou (3H, I), b_iou (3H,),
    W_f (H, I), b_f (H,), then per edge type U_iou^m (3H, H), U_f^m (H, H).
    """

    def __init__(self, num_edge_types: int, input_dim: int, hidden_dim: int, model):
        num_edge_types, input_dim, hidden_dim = int(num_edge_types), int(input_dim), int(hidden_dim)
        if num_edge_types < 1 or input_dim < 1 or hidden_dim < 1:
            raise ValueError("GraphLSTMBuilder: num_edge_types, input_dim and hidden_dim must be >= 1, "
                             f"got {num_edge_types}, {input_dim}, {hidden_dim}")
        self.num_edge_types, self.input_dim, self.hidden_dim = num_edge_types, input_dim, hidden_dim
        self._pc = model.add_subcollection("graph-lstm-builder")
        self._fwd = _TypedSumCell(self._pc, input_dim, hidden_dim, num_edge_types)
        self._bwd = _TypedSumCell(self._pc, input_dim, hidden_dim, num_edge_types)
        self._param_exprs = PerGraph(
            lambda: [[_core.parameter(p) for p in cell.params] for cell in (self._fwd, self._bwd)])

    def param_collection(self):
        return self._pc

    def get_parameters(self) -> list:
        """[forward cell's Parameters, backward cell's Parameters]."""
        return [list(self._fwd.params), list(self._bwd.params)]

    def _exprs(self):
        return self._param_exprs.get()

    def split_edges(self, n: int, edges, order=None):
        """The forward and backward predecessor lists: ``preds[d][j]`` is a list of
        ``(i, type)``.  Also returns the positions used."""
        if order is None:
            pos = list(range(n))
        else:
            order = list(order)
            if sorted(order) != list(range(n)):
                raise ValueError(f"GraphLSTMBuilder: order must be a permutation of 0..{n - 1}, got {order}")
            pos = [0] * n
            for p, node in enumerate(order):
                pos[node] = p
        fwd = [[] for _ in range(n)]
        bwd = [[] for _ in range(n)]
        for edge in edges:
            try:
                i, j, m = (int(v) for v in edge)
            except (TypeError, ValueError):
                raise ValueError(f"GraphLSTMBuilder: an edge is (source, target, type), got {edge!r}") from None
            if not (0 <= i < n and 0 <= j < n):
                raise ValueError(f"GraphLSTMBuilder: edge {edge!r} names a node outside 0..{n - 1}")
            if not 0 <= m < self.num_edge_types:
                raise ValueError(f"GraphLSTMBuilder: edge type {m} outside 0..{self.num_edge_types - 1}")
            if pos[i] < pos[j]:
                fwd[j].append((i, m))
            elif pos[i] > pos[j]:
                bwd[j].append((i, m))
        return fwd, bwd, pos

    def transduce(self, xs, edges, order=None, return_states: bool = False):
        """``xs``: n node inputs (input_dim,); ``edges``: (source, target, type)
        triples; ``order``: the node order splitting the graph (default 0..n-1).
        Returns n outputs ``[h_fwd; h_bwd]`` (2H,); with ``return_states`` also
        the forward and backward ``(h, c)`` lists."""
        xs = list(xs)
        n = len(xs)
        for x in xs:
            _check_dim("GraphLSTMBuilder.transduce", "node inputs", x, self.input_dim)
        fwd_preds, bwd_preds, pos = self.split_edges(n, edges, order)
        by_pos = sorted(range(n), key=pos.__getitem__)
        pf, pb = self._exprs()
        fwd = self._run(self._fwd, pf, xs, fwd_preds, by_pos)
        bwd = self._run(self._bwd, pb, xs, bwd_preds, by_pos[::-1])
        out = [_core.concatenate([fwd[j][0], bwd[j][0]]) for j in range(n)]
        if return_states:
            return out, fwd, bwd
        return out

    @staticmethod
    def _run(cell, p, xs, preds, visit):
        states = [None] * len(xs)
        for j in visit:
            kids = [(states[i][0], states[i][1], m) for i, m in preds[j]]
            states[j] = cell(p, xs[j], kids)
        return states

    @property
    def spec(self):
        return (self.num_edge_types, self.input_dim, self.hidden_dim)

    @staticmethod
    def from_spec(spec, model):
        return GraphLSTMBuilder(*spec, model)

    def whoami(self) -> str:
        return "GraphLSTMBuilder"
