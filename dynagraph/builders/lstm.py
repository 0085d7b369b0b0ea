"""LSTM builders with DyNet's parameter layouts.

* :class:`VanillaLSTMBuilder` (also ``LSTMBuilder``, as in DyNet 2.x Python):
  input, forget, output gates and candidate from one product; optional layer
  normalisation; variational (per-sequence) dropout masks.
* :class:`CompactVanillaLSTMBuilder`: the same cell and parameters.
* :class:`SparseLSTMBuilder`: the vanilla cell with magnitude-pruning masks.
* :class:`CoupledLSTMBuilder`: coupled input/forget gate and full peepholes.
* :class:`FastLSTMBuilder`: DyNet's layout with (unused) diagonal peepholes.

All states are (hidden_dim,) vectors with the batch size of the inputs.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import _core
from .._per_graph import PerGraph
from .rnn import _check_rate, _RNNBuilder

__all__ = ["VanillaLSTMBuilder", "LSTMBuilder", "CompactVanillaLSTMBuilder", "SparseLSTMBuilder",
           "CoupledLSTMBuilder", "FastLSTMBuilder"]

_LN_EPS = 1e-8


def _layer_norm(x, g, b, n: int):
    """g ∘ (x - mean(x)) / sqrt(var(x) + eps) + b for x of shape (n,)."""
    centered = x - _core.sum_elems(x) * (1.0 / n)
    var = _core.sum_elems(_core.square(centered)) * (1.0 / n)
    return _core.cmult(g, _core.cdiv(centered, _core.sqrt(var + _LN_EPS))) + b


class VanillaLSTMBuilder(_RNNBuilder):
    """Standard LSTM without peepholes::

        [a_i; a_f; a_o; a_g] = W_x x + W_h h_{t-1} + b        (4H,)
        i = σ(a_i)   f = σ(a_f + forget_bias)   o = σ(a_o)   g = tanh(a_g)
        c_t = f ∘ c_{t-1} + i ∘ g        h_t = o ∘ tanh(c_t)

    Per layer: W_x (4H, I), W_h (4H, H), b (4H,) (zeros).  With ``ln_lstm``,
    W_x x and W_h h are layer-normalised and so is c_t inside the tanh; the six
    gains/biases (4H, 4H, 4H, 4H, H, H: gains 1, biases 0) are made after the
    layer's weights, in DyNet's order (h gain, h bias, x gain, x bias, c gain, c bias).

    Dropout (``set_dropouts(d, d_h)``) is variational: one mask for x and one
    for h per sequence and batch element, drawn at the sequence's first step
    (or by ``set_dropout_masks(batch_size)`` after ``initial_state()``).

    With the default forget bias of 1 and no layer norm, a step is DyNet's
    three fused nodes (``vanilla_lstm_gates``, ``vanilla_lstm_c``,
    ``vanilla_lstm_h``) instead of sixteen elementary ones; the maths is the
    same. (The weights then reach ``dynagraph.distributed`` as dense
    gradients, not sufficient factors.)
    """

    _name = "vanilla-lstm-builder"
    _has_cell = True

    def set_dropouts(self, d: float, d_r: float) -> None:
        """Dropout rates of the input (``d``) and of the recurrent h (``d_r``)."""
        super().set_dropouts(d, d_r)

    def __init__(self, layers, input_dim, hidden_dim, model, ln_lstm: bool = False, forget_bias: float = 1.0):
        self.ln_lstm, self.forget_bias = bool(ln_lstm), float(forget_bias)
        self._ln = []
        super().__init__(layers, input_dim, hidden_dim, model)
        self._ln_exprs_cache = PerGraph(lambda: [[_core.parameter(q) for q in group] for group in self._ln])
        self._zero_state = PerGraph(lambda: _core.zeros((self.hidden_dim,)))  # the first step's h and c

    def _make_layer(self, pc, in_dim, i):
        H = self.hidden_dim
        layer = (pc.add_parameters((4 * H, in_dim)), pc.add_parameters((4 * H, H)),
                 pc.add_parameters((4 * H,), init=0.0))
        if self.ln_lstm:
            self._ln.append(tuple(pc.add_parameters((n,), init=float(v))
                                  for n, v in ((4 * H, 1), (4 * H, 0), (4 * H, 1), (4 * H, 0), (H, 1), (H, 0))))
        return layer

    def _weights(self, p, layer):
        return p[0], p[1]

    def _ln_exprs(self, layer):
        return self._ln_exprs_cache.get()[layer]

    # ---- the cell
    def _cell(self, layer, x, h, c, p, seq):
        H = self.hidden_dim
        x, h = self._masked(seq, layer, x, h)
        wx, wh = self._weights(p, layer)
        if not self.ln_lstm and self.forget_bias == 1.0:
            # DyNet's fused kernels (forget bias 1 built in): 3 nodes a step instead of 16.
            zero = self._zero_state.get
            gates = _core.vanilla_lstm_gates(x, zero() if h is None else h, wx, wh, p[2],
                                             getattr(self, "weightnoise_std", 0.0))
            c_new = _core.vanilla_lstm_c(zero() if c is None else c, gates)
            return _core.vanilla_lstm_h(c_new, gates), c_new
        if self.ln_lstm:
            gh, bh, gx, bx, gc, bc = self._ln_exprs(layer)
            a = _layer_norm(wx * x, gx, bx, 4 * H) + p[2]
            if h is not None:
                a = a + _layer_norm(wh * h, gh, bh, 4 * H)
        elif h is None:
            a = _core.affine_transform([p[2], wx, x])
        else:
            a = _core.affine_transform([p[2], wx, x, wh, h])
        i = _core.logistic(_core.pickrange(a, 0, H))
        af = _core.pickrange(a, H, 2 * H)
        f = _core.logistic(af + self.forget_bias if self.forget_bias != 0.0 else af)
        o = _core.logistic(_core.pickrange(a, 2 * H, 3 * H))
        g = _core.tanh(_core.pickrange(a, 3 * H, 4 * H))
        c_new = _core.cmult(i, g) if c is None else _core.cmult(f, c) + _core.cmult(i, g)
        if self.ln_lstm:
            gh, bh, gx, bx, gc, bc = self._ln_exprs(layer)
            return _core.cmult(o, _core.tanh(_layer_norm(c_new, gc, bc, H))), c_new
        return _core.cmult(o, _core.tanh(c_new)), c_new

    @property
    def spec(self):
        return (self.layers, self.input_dim, self.hidden_dim, self.ln_lstm, self.forget_bias)


LSTMBuilder = VanillaLSTMBuilder


class CompactVanillaLSTMBuilder(VanillaLSTMBuilder):
    """The vanilla LSTM cell and parameters under DyNet's compact builder's name
    (both run the fused gate kernels).  ``set_weightnoise(std)`` adds fresh
    Gaussian noise of that deviation to W_x, W_h and b at every step, as DyNet's
    does (set it back to 0 to evaluate)."""

    _name = "compact-vanilla-lstm-builder"

    def __init__(self, layers, input_dim, hidden_dim, model):
        super().__init__(layers, input_dim, hidden_dim, model)
        self.weightnoise_std = 0.0

    def set_weightnoise(self, std: float) -> None:
        if std < 0:
            raise ValueError(f"weight noise std must be >= 0, got {std}")
        self.weightnoise_std = float(std)

    @property
    def spec(self):
        return (self.layers, self.input_dim, self.hidden_dim)


class SparseLSTMBuilder(VanillaLSTMBuilder):
    """Vanilla LSTM whose weights are multiplied by 0/1 masks (Narang et al. 2017).

    Per layer: W_x (4H, I), W_h (4H, H), b (4H,), mask_x (4H, I), mask_h (4H, H)
    (DyNet's order).  Masks start at ones; ``set_sparsity(s)`` zeroes the
    fraction ``s`` of each weight matrix's smallest-magnitude entries.
    """

    _name = "sparse-lstm-builder"

    def _make_layer(self, pc, in_dim, i):
        layer = super()._make_layer(pc, in_dim, i)
        H = self.hidden_dim
        return layer + (pc.add_parameters((4 * H, in_dim), init=1.0), pc.add_parameters((4 * H, H), init=1.0))

    def _weights(self, p, layer):
        mx = _core.const_parameter(self._params[layer][3])
        mh = _core.const_parameter(self._params[layer][4])
        return _core.cmult(p[0], mx), _core.cmult(p[1], mh)

    def set_sparsity(self, sparsity: float) -> None:
        """Masks out the fraction ``sparsity`` (0..1) of smallest-magnitude weights of every matrix."""
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
        for layer in self._params:
            for w, m in ((layer[0], layer[3]), (layer[1], layer[4])):
                values = np.abs(w.as_array())
                k = int(values.size * sparsity)
                mask = np.ones(values.size, dtype=np.float32)
                mask[np.argsort(values, axis=None, kind="stable")[:k]] = 0.0
                m.set_value(mask.reshape(values.shape))


class CoupledLSTMBuilder(_RNNBuilder):
    """LSTM with coupled input/forget gate (f = 1 - i) and peepholes::

        i = σ(W_xi x + W_hi h + W_ci c_{t-1} + b_i)
        g = tanh(W_xc x + W_hc h + b_c)        c_t = (1 - i) ∘ c_{t-1} + i ∘ g
        o = σ(W_xo x + W_ho h + W_co c_t + b_o)        h_t = o ∘ tanh(c_t)

    Per layer (DyNet's order): W_xi (H, I), W_hi (H, H), W_ci (H, H), b_i,
    W_xo, W_ho, W_co, b_o, W_xc, W_hc, b_c.

    Dropout is variational, as in DyNet: per sequence, masks for x, h and c
    (rates ``set_dropouts(d, d_h, d_c)``; ``set_dropout(d)`` sets all three).
    The c mask drops the peephole inputs: c_{t-1} into the input gate and c_t
    into the output gate (the cell itself is carried undropped).
    """

    _name = "lstm-builder"
    _has_cell = True
    _peepholes = True
    _mask_rates = ("dropout_rate", "dropout_rate_h", "dropout_rate_c")
    dropout_rate_c = 0.0

    def set_dropout(self, d: float) -> None:
        super().set_dropout(d)
        self.dropout_rate_c = self.dropout_rate

    def set_dropouts(self, d: float, d_h: float, d_c: float | None = None) -> None:
        super().set_dropouts(d, d_h)
        self.dropout_rate_c = self.dropout_rate_h if d_c is None else _check_rate(d_c)

    def disable_dropout(self) -> None:
        super().disable_dropout()
        self.dropout_rate_c = 0.0

    def _make_layer(self, pc, in_dim, i):
        return self._make_peephole_layer(pc, in_dim, (self.hidden_dim, self.hidden_dim))

    def _make_peephole_layer(self, pc, in_dim, peep_shape):
        H = self.hidden_dim
        out = []
        for _ in range(2):
            out += [pc.add_parameters((H, in_dim)), pc.add_parameters((H, H)), pc.add_parameters(peep_shape),
                    pc.add_parameters((H,), init=0.0)]
        return tuple(out + [pc.add_parameters((H, in_dim)), pc.add_parameters((H, H)),
                            pc.add_parameters((H,), init=0.0)])

    def _cell(self, layer, x, h, c, p, seq):
        x, h = self._masked(seq, layer, x, h)
        mc = seq.masks[layer][2] if seq.masks is not None and self.dropout_rate_c > 0.0 else None

        def peep(cell):  # the cell as a peephole sees it
            return cell if mc is None else _core.cmult(cell, mc)

        rec = [] if h is None else [p[1], h]
        a_i = _core.affine_transform([p[3], p[0], x] + rec)
        if c is not None and self._peepholes:
            a_i = a_i + p[2] * peep(c)
        i = _core.logistic(a_i)
        g = _core.tanh(_core.affine_transform([p[10], p[8], x] + ([] if h is None else [p[9], h])))
        c_new = _core.cmult(i, g) if c is None else c + _core.cmult(i, g - c)
        a_o = _core.affine_transform([p[7], p[4], x] + ([] if h is None else [p[5], h]))
        o = _core.logistic(a_o + p[6] * peep(c_new) if self._peepholes else a_o)
        return _core.cmult(o, _core.tanh(c_new)), c_new


class FastLSTMBuilder(CoupledLSTMBuilder):
    """:class:`CoupledLSTMBuilder`'s layout with diagonal peephole columns W_ci,
    W_co of shape (H, 1).  As in DyNet 2.2, whose FastLSTMBuilder creates the
    peephole parameters but does not use them, the cell is the coupled LSTM
    *without* peepholes::

        i = σ(W_xi x + W_hi h + b_i)     g = tanh(W_xc x + W_hc h + b_c)
        c_t = (1 - i) ∘ c_{t-1} + i ∘ g     o = σ(W_xo x + W_ho h + b_o)     h_t = o ∘ tanh(c_t)

    (checked against dynet38 in tests/dynet_compat/test_compare_builders.py). DyNet 2.2's
    FastLSTMBuilder also applies no dropout; so does this one, and says so when
    a rate is set.
    """

    _name = "fast-lstm-builder"
    _peepholes = False

    def _dropping(self) -> bool:
        return False

    def _masked(self, seq, layer, x, h):
        return x, h

    def set_dropouts(self, d: float, d_h: float, d_c: float | None = None) -> None:
        super().set_dropouts(d, d_h, d_c)
        if self.dropout_rate or self.dropout_rate_h or self.dropout_rate_c:
            warnings.warn("FastLSTMBuilder applies no dropout (as DyNet's); use VanillaLSTMBuilder "
                          "or CoupledLSTMBuilder for dropout", stacklevel=2)

    def set_dropout(self, d: float) -> None:
        self.set_dropouts(d, d, d)

    def _make_layer(self, pc, in_dim, i):
        return self._make_peephole_layer(pc, in_dim, (self.hidden_dim, 1))
