"""Linear-chain conditional random field with start and end scores.

For emissions ``e_1..e_T`` (each (K,), the tag scores at one position) and a
tag path ``y``, the path score is::

    s(y) = start[y_1] + Σ_t e_t[y_t] + Σ_{t>1} trans[y_{t-1}, y_t] + end[y_T]

and ``p(y) = exp(s(y)) / Z`` with ``log Z`` from the forward algorithm
(``alpha_t = logsumexp over the previous tag of alpha_{t-1} + trans, + e_t``).

Batches: emissions may carry a batch of B sequences of one length T; then
``tags`` is a list of B tag lists and ``neg_log_loss`` returns a (1,) x B
expression (sum it with ``dy.sum_batches``).
"""
from __future__ import annotations

import numpy as np

from .. import _core

__all__ = ["CRF"]


def _logsumexp_np(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


class CRF:
    """``CRF(num_tags, model)``: parameters trans (K, K) (trans[i, j] scores tag i
    followed by tag j), start (K,), end (K,), all initialised to zero."""

    def __init__(self, num_tags: int, model):
        self.num_tags = int(num_tags)
        if self.num_tags < 1:
            raise ValueError(f"CRF: num_tags must be >= 1, got {num_tags}")
        self._pc = model.add_subcollection("crf")
        K = self.num_tags
        self.trans = self._pc.add_parameters((K, K), init=0.0)
        self.start = self._pc.add_parameters((K,), init=0.0)
        self.end = self._pc.add_parameters((K,), init=0.0)

    def param_collection(self):
        return self._pc

    def get_parameters(self) -> list:
        return [self.trans, self.start, self.end]

    @property
    def spec(self):
        return (self.num_tags,)

    @staticmethod
    def from_spec(spec, model):
        return CRF(spec[0], model)

    # ---- checks
    def _check(self, emissions):
        emissions = list(emissions)
        if not emissions:
            raise ValueError("CRF: needs at least one emission vector")
        batch = None
        for t, e in enumerate(emissions):
            shape, b = e.dim()
            if shape[0] != self.num_tags or any(d != 1 for d in shape[1:]):
                raise ValueError(f"CRF: emission {t} should have dimension ({self.num_tags},), got {shape}")
            if batch is not None and b != batch:
                raise ValueError(f"CRF: emission {t} has batch size {b}, emission 0 has {batch}")
            batch = b
        return emissions, batch

    def _check_tags(self, tags, T: int, B: int):
        if B == 1 and tags and not isinstance(tags[0], (list, tuple, np.ndarray)):
            tags = [tags]
        tags = [[int(y) for y in seq] for seq in tags]
        if len(tags) != B:
            raise ValueError(f"CRF: emissions have batch size {B}, got {len(tags)} tag sequences")
        for b, seq in enumerate(tags):
            if len(seq) != T:
                raise ValueError(f"CRF: tag sequence {b} has length {len(seq)}, emissions have length {T}")
            for y in seq:
                if not 0 <= y < self.num_tags:
                    raise IndexError(f"CRF: tag {y} outside 0..{self.num_tags - 1}")
        return tags

    # ---- training loss
    def log_partition(self, emissions):
        """log Z as a (1,) expression (batched: (1,) x B)."""
        emissions, _ = self._check(list(emissions))
        trans = _core.parameter(self.trans)
        alpha = _core.parameter(self.start) + emissions[0]
        for e in emissions[1:]:
            alpha = _core.logsumexp_dim(trans + alpha, 0) + e        # (K, K): alpha[i] added to row i
        return _core.logsumexp_dim(alpha + _core.parameter(self.end), 0)

    def path_score(self, emissions, tags):
        """The score s(y) of the given tag path(s) as a (1,) expression (x B)."""
        emissions, B = self._check(list(emissions))
        tags = self._check_tags(tags, len(emissions), B)
        K, T = self.num_tags, len(emissions)
        # Transition, start and end scores: counts of each used entry, dotted with the parameters.
        counts = np.zeros((K * K + 2 * K, B), dtype=np.float32)
        emit = np.zeros((K * T, B), dtype=np.float32)
        for b, seq in enumerate(tags):
            for t, y in enumerate(seq):
                emit[t * K + y, b] = 1.0
                if t:
                    counts[seq[t - 1] + y * K, b] += 1.0                # column-major index of trans[prev, y]
            counts[K * K + seq[0], b] += 1.0
            counts[K * K + K + seq[-1], b] += 1.0
        flat = _core.concatenate([_core.reshape(_core.parameter(self.trans), (K * K,)),
                                  _core.parameter(self.start), _core.parameter(self.end)])
        batched = B > 1
        # Dot products as sum_elems(cmult): ops with a kernel on every device, so the CRF runs there too.
        struct = _core.sum_elems(_core.cmult(flat, _core.inputTensor(counts if batched else counts[:, 0],
                                                                     batched=batched)))
        e_all = _core.reshape(_core.concatenate_cols(emissions), (K * T,))
        em = _core.sum_elems(_core.cmult(e_all, _core.inputTensor(emit if batched else emit[:, 0], batched=batched)))
        return struct + em

    def neg_log_loss(self, emissions, tags):
        """-log p(tags | emissions) = log Z - s(tags): (1,), or (1,) x B for a batch."""
        emissions = list(emissions)
        return self.log_partition(emissions) - self.path_score(emissions, tags)

    # ---- decoding (NumPy over values)
    def _values(self, emissions):
        emissions, B = self._check(list(emissions))
        em = np.stack([np.asarray(e.npvalue(), dtype=np.float64).reshape(self.num_tags, B) for e in emissions])
        return em.transpose(2, 0, 1), B                                    # (B, T, K)

    def _param_values(self):
        return (np.asarray(self.trans.as_array(), np.float64), np.asarray(self.start.as_array(), np.float64),
                np.asarray(self.end.as_array(), np.float64))

    def viterbi(self, emissions):
        """Best path and its score: ``(list of T tags, float)``; for a batch, a list of B such pairs."""
        em, B = self._values(emissions)
        trans, start, end = self._param_values()
        out = []
        for b in range(B):
            score = start + em[b, 0]
            back = []
            for t in range(1, em.shape[1]):
                cand = score[:, None] + trans                             # (prev, next)
                back.append(np.argmax(cand, axis=0))
                score = cand.max(axis=0) + em[b, t]
            score = score + end
            best = int(np.argmax(score))
            path = [best]
            for ptr in reversed(back):
                path.append(int(ptr[path[-1]]))
            out.append((path[::-1], float(score[best])))
        return out[0] if B == 1 else out

    def marginals(self, emissions):
        """p(y_t = k | emissions) as a NumPy array (T, K); for a batch (B, T, K)."""
        em, B = self._values(emissions)
        trans, start, end = self._param_values()
        _, T, K = em.shape
        out = np.zeros((B, T, K))
        for b in range(B):
            alpha = np.zeros((T, K))
            beta = np.zeros((T, K))
            alpha[0] = start + em[b, 0]
            for t in range(1, T):
                alpha[t] = _logsumexp_np(alpha[t - 1][:, None] + trans, 0) + em[b, t]
            beta[T - 1] = end
            for t in range(T - 2, -1, -1):
                beta[t] = _logsumexp_np(trans + (em[b, t + 1] + beta[t + 1])[None, :], 1)
            log_z = _logsumexp_np(alpha[T - 1] + end, 0)
            out[b] = np.exp(alpha + beta - log_z)
        return out[0] if B == 1 else out
