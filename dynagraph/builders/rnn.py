"""Recurrent builders with DyNet's API: states, the shared base, Simple RNN, GRU, BiRNN.

A builder owns parameters; ``builder.initial_state()`` starts a sequence and
returns an :class:`RNNState`.  States are immutable: ``s.add_input(x)``
returns a *new* state whose ``prev()`` is ``s``, so branching (beam search,
trees of hypotheses) is free.  Per layer ``l`` a state holds ``h_l`` (and, for
LSTMs, the cell ``c_l``), each of shape ``(hidden_dim,)`` with the batch size
of the inputs.

Parameter shapes and creation order are DyNet's, so values copied from a DyNet
model reproduce its outputs.
"""
from __future__ import annotations

import math
import os

from .. import _core, _errors
from .._per_graph import PerGraph

__all__ = ["RNNState", "StackedRNNState", "SimpleRNNBuilder", "GRUBuilder", "BiRNNBuilder"]


def _dropout_mask(dim: int, rate: float, batch: int = 1):
    """A (dim,) mask of 0 and 1/(1-rate) (inverted dropout), ``batch`` samples."""
    return _core.random_bernoulli((dim,), 1.0 - rate, 1.0 / (1.0 - rate), batch)


def _check_rate(rate) -> float:
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    return rate


class _Sequence:
    """What one sequence shares across its steps: parameter expressions, dropout masks
    (None until the first step or ``set_dropout_masks`` draws them)."""

    __slots__ = ("exprs", "masks", "version")

    def __init__(self, exprs, masks=None):
        self.exprs = exprs
        self.masks = masks
        self.version = _core.cg_version()

    def check_fresh(self, builder, what: str) -> None:
        """DyNet's ValueError for a state used after renew_cg()."""
        if self.version != _core.cg_version():
            raise ValueError(f"{type(builder).__name__}.{what}: using a stale builder state: renew_cg() was called "
                             "after initial_state(); call initial_state() in the new graph")


class RNNState:
    """One time step of a builder's sequence.

    ``h()`` is a tuple with each layer's output ``(hidden_dim,)``; ``s()`` the
    full state (LSTMs: cells of all layers, then outputs; others: ``h()``).
    """

    __slots__ = ("_builder", "_seq", "_h", "_c", "_prev")

    def __init__(self, builder, seq, h, c, prev):
        self._builder, self._seq, self._h, self._c, self._prev = builder, seq, h, c, prev

    def add_input(self, x) -> "RNNState":
        """Feeds ``x`` (input_dim,) and returns the next state."""
        h, c = self._builder._advance(self._seq, self._h, self._c, x)
        return RNNState(self._builder, self._seq, h, c, self)

    def add_inputs(self, xs) -> list:
        """Feeds each of ``xs`` in turn; returns the list of states reached."""
        states, cur = [], self
        for x in xs:
            cur = cur.add_input(x)
            states.append(cur)
        return states

    def transduce(self, xs) -> list:
        """Feeds each of ``xs`` in turn; returns the outputs (top-layer h) only."""
        b, seq, h, c, out = self._builder, self._seq, self._h, self._c, []
        for x in xs:
            h, c = b._advance(seq, h, c, x)
            out.append(h[-1])
        return out

    def output(self):
        """Top layer's h (hidden_dim,), or None before the first input."""
        return self._h[-1] if self._h else None

    def h(self) -> tuple:
        return tuple(self._h) if self._h else ()

    def s(self) -> tuple:
        if not self._h:
            return ()
        if self._c is None:
            return tuple(self._h)
        return tuple(self._c) + tuple(self._h)

    def prev(self):
        return self._prev

    def b(self):
        """The builder that made this state."""
        return self._builder

    def set_h(self, es=None) -> "RNNState":
        """A new state (after this one) with the layers' h replaced by ``es``
        (LSTMs keep this state's cells: zeros where none were set, as in DyNet)."""
        b = self._builder
        self._seq.check_fresh(b, "set_h")
        es = b._check_vectors(es, b.layers, "set_h")
        c = None
        if b._has_cell:
            c = self._c if self._c else b._zero_vectors()
        return RNNState(b, self._seq, es, c, self)

    def set_s(self, es=None) -> "RNNState":
        """A new state with the whole state replaced. LSTMs take DyNet's two forms:
        ``2 * layers`` vectors (cells, then hs), or ``layers`` vectors that set the
        cells and keep this state's hs (zeros where none were set)."""
        b = self._builder
        self._seq.check_fresh(b, "set_s")
        if not b._has_cell:
            return RNNState(b, self._seq, b._check_vectors(es, b.layers, "set_s"), None, self)
        es = tuple(es) if es is not None else ()
        if len(es) == b.layers:
            es = b._check_vectors(es, b.layers, "set_s")
            h = self._h if self._h else b._zero_vectors()
            return RNNState(b, self._seq, h, es, self)
        if len(es) != 2 * b.layers:
            raise ValueError(f"{type(b).__name__}.set_s: expected {b.layers} vectors (cells) or {2 * b.layers} "
                             f"(cells, then hs) for {b.layers} layers, got {len(es)}")
        es = b._check_vectors(es, 2 * b.layers, "set_s")
        return RNNState(b, self._seq, es[b.layers:], es[: b.layers], self)

    def __repr__(self) -> str:
        return f"<RNNState of {type(self._builder).__name__}>"


class StackedRNNState:
    """States of several builders stacked: each one's output feeds the next."""

    def __init__(self, states, prev=None):
        self.states = list(states)
        self._prev = prev

    def add_input(self, x) -> "StackedRNNState":
        new = []
        for st in self.states:
            st = st.add_input(x)
            x = st.output()
            new.append(st)
        return StackedRNNState(new, self)

    def add_inputs(self, xs) -> list:
        out, cur = [], self
        for x in xs:
            cur = cur.add_input(x)
            out.append(cur)
        return out

    def output(self):
        return self.states[-1].output()

    def prev(self):
        return self._prev

    def h(self) -> tuple:
        return tuple(e for st in self.states for e in st.h())

    def s(self) -> tuple:
        return tuple(e for st in self.states for e in st.s())


def _check_layers_fit(name: str, layers: int, layer) -> None:
    """A MemoryError now, not after minutes of adding layers one by one, when
    ``layers`` layers like ``layer`` (values and gradients) exceed the memory."""
    values = sum(math.prod(p.shape()) for p in layer)
    need = layers * values * 4 * 2
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > physical:
        raise MemoryError(f"{name}: {layers} layers of {values} values each need {need / 2**30:.1f} GiB "
                          f"(values and gradients), more than this machine's {physical / 2**30:.1f} GiB")


class _RNNBuilder:
    """Shared machinery.  Subclasses set ``_name``, ``_has_cell`` and define
    ``_make_layer(pc, in_dim)`` (returns the layer's Parameters in DyNet's order)
    and ``_cell(layer, x, h, c, exprs, seq)`` -> ``(h, c)`` (``h``/``c`` None at
    the start of a sequence without initial vectors: treated as zeros)."""

    _name = "rnn-builder"
    _has_cell = False

    def __init__(self, layers: int, input_dim: int, hidden_dim: int, model):
        name = type(self).__name__
        layers, input_dim, hidden_dim = (_errors.index(v, name, arg) for v, arg in
                                         ((layers, "layers"), (input_dim, "input_dim"), (hidden_dim, "hidden_dim")))
        if layers < 1 or input_dim < 1 or hidden_dim < 1:
            raise ValueError(f"{name}: layers, input_dim and hidden_dim must be >= 1, "
                             f"got {layers}, {input_dim}, {hidden_dim}")
        self.layers, self.input_dim, self.hidden_dim = layers, input_dim, hidden_dim
        self._pc = model.add_subcollection(self._name)
        self._params = []
        for i in range(layers):
            self._params.append(self._make_layer(self._pc, input_dim if i == 0 else hidden_dim, i))
            if i == min(1, layers - 1):
                _check_layers_fit(name, layers, self._params[-1])
        self._param_exprs = PerGraph(lambda update: [[(_core.parameter if update else _core.const_parameter)(p)
                                                       for p in layer] for layer in self._params])
        self.dropout_rate = 0.0
        self.dropout_rate_h = 0.0
        self._last_seq = None  # the sequence set_dropout_masks draws for
        self._init_state = PerGraph(lambda: RNNState(self, self._last_seq, None, None, None))

    # ---- parameters
    def get_parameters(self) -> list:
        """Per layer, the list of Parameters in DyNet's order."""
        return [list(layer) for layer in self._params]

    def get_parameter_expressions(self) -> list:
        """Per layer, the nodes of its parameters in the current graph. As in DyNet,
        ValueError until ``initial_state()`` has added them to this graph."""
        if not self._param_exprs.made():
            raise ValueError(f"{type(self).__name__}.get_parameter_expressions: call initial_state() in this "
                             "computation graph first (after renew_cg() the parameters' expressions are stale)")
        return [list(layer) for layer in self._param_exprs.last()]

    def param_collection(self):
        return self._pc

    def _exprs(self, update: bool = True):
        return self._param_exprs.get(update)

    # ---- dropout
    def set_dropout(self, d: float) -> None:
        self.dropout_rate = self.dropout_rate_h = _check_rate(d)

    def set_dropouts(self, d: float, d_h: float) -> None:
        self.dropout_rate, self.dropout_rate_h = _check_rate(d), _check_rate(d_h)

    def disable_dropout(self) -> None:
        self.dropout_rate = self.dropout_rate_h = 0.0

    # Variational dropout, as DyNet's builders draw it: one mask per sequence for
    # each layer's input and recurrent vector (``_mask_rates`` names the rates, in
    # the order of the masks), drawn at the sequence's first step with that
    # input's batch size (one mask per batch element), or by set_dropout_masks.
    # A mask applies while its rate is positive. GRUBuilder overrides _masked
    # with DyNet's fresh per-step dropout of the input.
    _mask_rates = ("dropout_rate", "dropout_rate_h")

    def _dropping(self) -> bool:
        return any(getattr(self, r) > 0.0 for r in self._mask_rates)

    def _new_masks(self, batch_size: int) -> list:
        """Per layer, a tuple with one mask per rate (None where the rate is 0)."""
        masks = []
        for layer in range(self.layers):
            dims = ((self.input_dim if layer == 0 else self.hidden_dim),) + (self.hidden_dim,) * (len(self._mask_rates) - 1)
            masks.append(tuple(_dropout_mask(n, getattr(self, r), batch_size) if getattr(self, r) > 0.0 else None
                               for n, r in zip(dims, self._mask_rates)))
        return masks

    def set_dropout_masks(self, batch_size: int = 1) -> None:
        """Draws fresh masks, ``batch_size`` samples each, for the sequence the last
        ``initial_state()`` started (call it after that, as in DyNet). Without it a
        sequence draws its masks at its first step, one per batch element. Before
        ``initial_state()`` in this graph it does nothing: DyNet's next
        ``initial_state()`` discards such masks."""
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"{type(self).__name__}.set_dropout_masks: batch_size must be >= 1, got {batch_size}")
        if self._last_seq is None or self._last_seq.version != _core.cg_version():
            return
        self._last_seq.masks = self._new_masks(batch_size)

    def _masked(self, seq, layer: int, x, h):
        """The layer's input and recurrent vector times their masks (DyNet drops h
        only when a previous state exists)."""
        if seq.masks is None:
            return x, h
        mx, mh = seq.masks[layer][:2]
        if mx is not None and self.dropout_rate > 0.0:
            x = _core.cmult(x, mx)
        if mh is not None and h is not None and self.dropout_rate_h > 0.0:
            h = _core.cmult(h, mh)
        return x, h

    # ---- sequences
    def initial_state(self, vecs=None, update: bool = True) -> RNNState:
        """The sequence start of this graph.  As in DyNet, the first call in a graph
        starts the sequence (``update`` applies then) and later calls in the same
        graph return that same state, so its sequences share dropout masks.
        ``vecs``: an initial state, as ``initial_state().set_s(vecs)``."""
        if not self._init_state.made():
            self._last_seq = _Sequence(self._exprs(update))
        init = self._init_state.get()
        return init if vecs is None else init.set_s(vecs)

    def initial_state_from_raw_vectors(self, vecs=None, update: bool = True) -> RNNState:
        if vecs is None:
            return self.initial_state(None, update)
        return self.initial_state([_core.inputTensor(v) for v in vecs], update)

    def _zero_vectors(self) -> list:
        """One zero vector (hidden_dim,) per layer: DyNet's state where none was set."""
        return [_core.zeros((self.hidden_dim,))] * self.layers

    def _check_vectors(self, es, n: int, what: str) -> tuple:
        if isinstance(es, (str, bytes)):
            raise TypeError(f"{type(self).__name__}.{what}: expected a list of expressions, got {type(es).__name__}")
        es = tuple(es) if es is not None else ()
        if len(es) != n:
            raise ValueError(f"{type(self).__name__}.{what}: expected {n} vectors, got {len(es)}")
        for e in es:
            if not isinstance(e, (_core.Expression, _core.Parameters, _core.LookupParameters)):
                raise TypeError(f"{type(self).__name__}.{what}: expected expressions, got {type(e).__name__}")
            shape = e.dim()[0]
            if shape[0] != self.hidden_dim or any(d != 1 for d in shape[1:]):
                raise ValueError(f"{type(self).__name__}.{what}: expected vectors of dimension "
                                 f"({self.hidden_dim},), got {shape}")
        return es

    def _advance(self, seq, hs, cs, x):
        seq.check_fresh(self, "add_input")
        shape = x.dim()[0]
        if shape[0] != self.input_dim or any(d != 1 for d in shape[1:]):
            raise ValueError(f"{type(self).__name__}.add_input: expected an input of dimension "
                             f"({self.input_dim},), got {shape}")
        if seq.masks is None and self._dropping():
            seq.masks = self._new_masks(x.dim()[1])
        new_h, new_c = [], []
        for layer in range(self.layers):
            h, c = self._cell(layer, x, hs[layer] if hs else None, cs[layer] if cs else None,
                              seq.exprs[layer], seq)
            new_h.append(h)
            new_c.append(c)
            x = h
        return new_h, (new_c if self._has_cell else None)

    # ---- saving
    @property
    def spec(self) -> tuple:
        return (self.layers, self.input_dim, self.hidden_dim)

    @classmethod
    def from_spec(cls, spec, model):
        layers, input_dim, hidden_dim, *options = spec
        return cls(layers, input_dim, hidden_dim, model, *options)

    def whoami(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} layers={self.layers} {self.input_dim}->{self.hidden_dim}>"


class SimpleRNNBuilder(_RNNBuilder):
    """Elman RNN: ``h_t = tanh(W_x x_t + W_h h_{t-1} + b)``.

    Per layer: W_x (H, I), W_h (H, H), b (H,) (zeros).
    """

    _name = "simple-rnn-builder"

    def _make_layer(self, pc, in_dim, i):
        H = self.hidden_dim
        return (pc.add_parameters((H, in_dim)), pc.add_parameters((H, H)), pc.add_parameters((H,), init=0.0))

    def _cell(self, layer, x, h, c, p, seq):
        x, h = self._masked(seq, layer, x, h)
        if h is None:
            return _core.tanh(_core.affine_transform([p[2], p[0], x])), None
        return _core.tanh(_core.affine_transform([p[2], p[0], x, p[1], h])), None


class GRUBuilder(_RNNBuilder):
    """Gated recurrent unit (Cho et al. 2014)::

        z = σ(W_xz x + W_hz h + b_z)       r = σ(W_xr x + W_hr h + b_r)
        h~ = tanh(W_xh x + W_hh (r ∘ h) + b_h)
        h' = (1 - z) ∘ h + z ∘ h~

    Per layer (DyNet's order): W_xz (H, I), W_hz (H, H), b_z (H,), W_xr, W_hr,
    b_r, W_xh, W_hh, b_h.
    """

    _name = "gru-builder"

    def _make_layer(self, pc, in_dim, i):
        H, out = self.hidden_dim, []
        for _ in range(3):
            out += [pc.add_parameters((H, in_dim)), pc.add_parameters((H, H)), pc.add_parameters((H,), init=0.0)]
        return tuple(out)

    def _masked(self, seq, layer, x, h):
        """DyNet's GRU drops each layer's input afresh at every step (no masks, no d_h)."""
        if self.dropout_rate > 0.0:
            x = _core.cmult(x, _dropout_mask(x.dim()[0][0], self.dropout_rate, x.dim()[1]))
        return x, h

    def _dropping(self) -> bool:
        return False

    def set_dropout_masks(self, batch_size: int = 1) -> None:
        raise AttributeError("GRUBuilder draws its dropout afresh at every step and has no masks (as in DyNet)")

    def _cell(self, layer, x, h, c, p, seq):
        x, _ = self._masked(seq, layer, x, None)
        if h is None:
            z = _core.logistic(_core.affine_transform([p[2], p[0], x]))
            cand = _core.tanh(_core.affine_transform([p[8], p[6], x]))
            return _core.cmult(z, cand), None
        z = _core.logistic(_core.affine_transform([p[2], p[0], x, p[1], h]))
        r = _core.logistic(_core.affine_transform([p[5], p[3], x, p[4], h]))
        cand = _core.tanh(_core.affine_transform([p[8], p[6], x, p[7], _core.cmult(r, h)]))
        return _core.cmult(1.0 - z, h) + _core.cmult(z, cand), None


class BiRNNBuilder:
    """A stack of bidirectional layers; each layer is a (forward, backward) pair of
    one-layer builders with ``hidden_dim // 2`` units whose outputs are concatenated.

    ``transduce(xs)`` maps T inputs (input_dim,) to T outputs (hidden_dim,).
    """

    def __init__(self, num_layers: int, input_dim: int, hidden_dim: int, model, rnn_builder_factory,
                 builder_layers=None):
        self.model = model.add_subcollection("birnn")
        if builder_layers is None:
            if int(num_layers) < 1:
                raise ValueError(f"BiRNNBuilder: num_layers must be >= 1, got {num_layers}")
            if int(hidden_dim) % 2:
                raise ValueError(f"BiRNNBuilder: hidden_dim must be even, got {hidden_dim}")
            half = int(hidden_dim) // 2
            builder_layers = []
            for i in range(int(num_layers)):
                in_dim = input_dim if i == 0 else hidden_dim
                builder_layers.append((rnn_builder_factory(1, in_dim, half, self.model),
                                       rnn_builder_factory(1, in_dim, half, self.model)))
        self.spec = (num_layers, input_dim, hidden_dim, rnn_builder_factory, None)
        self.builder_layers = [tuple(pair) for pair in builder_layers]

    def whoami(self) -> str:
        return "BiRNNBuilder"

    def set_dropout(self, p: float) -> None:
        for f, b in self.builder_layers:
            f.set_dropout(p)
            b.set_dropout(p)

    def disable_dropout(self) -> None:
        for f, b in self.builder_layers:
            f.disable_dropout()
            b.disable_dropout()

    def _lower_layers(self, es):
        for fb, bb in self.builder_layers[:-1]:
            fs = fb.initial_state().transduce(es)
            bs = bb.initial_state().transduce(reversed(es))
            es = [_core.concatenate([f, b]) for f, b in zip(fs, reversed(bs))]
        return es

    def add_inputs(self, es) -> list:
        """The (forward state, backward state) pairs of the top layer, one per input."""
        es = self._lower_layers(list(es))
        fb, bb = self.builder_layers[-1]
        fs = fb.initial_state().add_inputs(es)
        bs = bb.initial_state().add_inputs(reversed(es))
        return list(zip(fs, reversed(bs)))

    def transduce(self, es) -> list:
        """T inputs -> T outputs, each the concatenation [h_fwd; h_bwd] (hidden_dim,)."""
        es = self._lower_layers(list(es))
        fb, bb = self.builder_layers[-1]
        fs = fb.initial_state().transduce(es)
        bs = bb.initial_state().transduce(reversed(es))
        return [_core.concatenate([f, b]) for f, b in zip(fs, reversed(bs))]

    def param_collection(self):
        return self.model

    @staticmethod
    def from_spec(spec, model):
        num_layers, input_dim, hidden_dim, factory = spec[:4]
        return BiRNNBuilder(num_layers, input_dim, hidden_dim, model, factory)
