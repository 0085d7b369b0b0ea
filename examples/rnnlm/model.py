"""A word-level LSTM language model trained on minibatches of sentences.

dynet-benchmark's *rnnlm-batch* model: embeddings (V, E), one
:class:`dynagraph.VanillaLSTMBuilder` layer E -> H, and a softmax layer
``W h + b`` over the vocabulary.  A minibatch of B sentences is one graph whose
expressions carry a batch dimension of B:

    x_0 = E[<eos>]  (batch B, via dy.lookup_batch)     s_0 = LSTM.initial_state()
    for t = 0 .. T-1:   s_{t+1} = s_t.add_input(x_t)
                        loss_t = pickneglogsoftmax_batch(W s_{t+1}.output() + b, w_t)    (1,) batch B
                        x_{t+1} = E[w_t]
    loss = sum_batches(sum_t mask_t * loss_t)

where ``w_t`` is each sentence's t-th word (``<eos>`` ends every sentence and
also starts it) and ``mask_t`` is 0 for sentences shorter than t+1 (those are
padded with ``<eos>``).  With sentences grouped by length most minibatches need
no mask at all.

With ``softmax_once`` the softmax layer is applied once to all time steps
(``dy.concatenate_to_batch`` of the T outputs, batch T*B, one
``pickneglogsoftmax_batch``): the same loss, one GEMM instead of T skinny
ones (~1.15x faster at B = 64, ~2x at B <= 4; see benchmarks/log/rnnlm_tagger.md).

The model follows DyNet's save protocol (``spec``, ``param_collection()``,
``from_spec``) and is registered with ``@dy.saveable``, so ``dy.save(path, [model])`` /
``dy.load(path, pc)`` work.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import dynagraph as dy

EOS = "<eos>"


@dy.saveable  # dy.load may re-create it (a model file cannot name code to run)
class RNNLanguageModel:
    """``RNNLanguageModel(pc, tokens, emb_dim, hidden_dim, layers)``.

    ``tokens``: the vocabulary as a list of strings; it must contain ``<eos>``
    (start and end of every sentence).  Sentences are lists of token ids.
    """

    def __init__(self, pc, tokens: Sequence[str], emb_dim: int = 128, hidden_dim: int = 256, layers: int = 1):
        self.tokens = list(tokens)
        if EOS not in self.tokens:
            raise ValueError(f"the vocabulary must contain {EOS!r}")
        self.eos = self.tokens.index(EOS)
        self.emb_dim, self.hidden_dim, self.layers = int(emb_dim), int(hidden_dim), int(layers)
        self.pc = pc.add_subcollection("rnnlm")
        self.E = self.pc.add_lookup_parameters((len(self.tokens), self.emb_dim))
        self.rnn = dy.VanillaLSTMBuilder(self.layers, self.emb_dim, self.hidden_dim, self.pc)
        self.W = self.pc.add_parameters((len(self.tokens), self.hidden_dim))
        self.b = self.pc.add_parameters((len(self.tokens),), init=0.0)
        self.dropout = 0.0  # on the LSTM's input and output; set by the trainer, 0 when evaluating
        self.softmax_once = False  # one softmax node for all time steps (same loss, faster)

    # ---- DyNet's save protocol
    @property
    def spec(self):
        return (self.tokens, self.emb_dim, self.hidden_dim, self.layers)

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        return RNNLanguageModel(model, *spec)

    # ---- the network
    def batch_loss(self, sents: Sequence[Sequence[int]]) -> Tuple[dy.Expression, int]:
        """(summed negative log-likelihood of every word of ``sents``, number of words).

        ``sents``: B lists of ids, each ending with ``<eos>``, longest first or
        not; one graph with batch size B.  Call ``dy.renew_cg()`` first.
        """
        W, b = dy.parameter(self.W), dy.parameter(self.b)
        B, T = len(sents), max(len(s) for s in sents)
        state = self.rnn.initial_state()
        x = dy.lookup_batch(self.E, [self.eos] * B)
        losses: List[dy.Expression] = []
        hs: List[dy.Expression] = []
        all_ids: List[int] = []
        all_mask: List[float] = []
        for t in range(T):
            ids = [s[t] if t < len(s) else self.eos for s in sents]
            mask = [1.0 if t < len(s) else 0.0 for s in sents]
            state = state.add_input(dy.dropout(x, self.dropout) if self.dropout else x)
            h = state.output()
            h = dy.dropout(h, self.dropout) if self.dropout else h
            if self.softmax_once:
                hs.append(h)
                all_ids += ids
                all_mask += mask
            else:
                losses.append(self._masked(dy.pickneglogsoftmax_batch(W * h + b, ids), mask))
            if t + 1 < T:
                x = dy.lookup_batch(self.E, ids)
        words = sum(len(s) for s in sents)
        if self.softmax_once:
            H = dy.concatenate_to_batch(hs)  # (hidden,) with batch T*B, step-major
            return dy.sum_batches(self._masked(dy.pickneglogsoftmax_batch(W * H + b, all_ids), all_mask)), words
        return dy.sum_batches(dy.esum(losses)), words

    @staticmethod
    def _masked(loss, mask):
        """``loss`` (1,) with batch len(mask), times the 0/1 mask when it has zeros."""
        if min(mask) == 1.0:
            return loss
        return dy.cmult(loss, dy.reshape(dy.inputVector(mask), (1,), len(mask)))
