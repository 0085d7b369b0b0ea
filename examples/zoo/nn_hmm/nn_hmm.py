"""Neural HMM: emission and transition distributions from a neural network, trained without
labels on the HMM's marginal likelihood (the forward algorithm), beside the NN + CRF entry.

Data with a known answer: sequences from a hidden Markov model with K states, sticky
cyclic transitions and, per state, a distribution over V symbols that overlaps with
the others' (one symbol alone is ambiguous).

Model (after Tran et al., 2016): each state k has an embedding e_k; the emission
distribution is ``softmax(U tanh(W e_k + b) + c)`` over the symbols, the transition
distribution from state j is ``softmax`` of a learned column. Training maximises

    log p(x_1..x_T) = log sum over state paths of pi(z_1) prod_t A(z_t | z_t-1) p(x_t | z_t),

computed by the forward recursion in log space (one logsumexp per step); reverse-mode
autodiff through it gives exactly the expected counts that forward-backward would.
Reported: test log-likelihood per symbol against the true HMM's (the reference a
learner can approach) and against a classical HMM fitted by Baum-Welch (EM) from the
same start; and the states decoded by posterior marginals against the true states
(under the best matching of learned to true states).
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import train_epochs, base_parser, print_report, seed_everything  # noqa: E402


def log_normalise(a: np.ndarray, axis: int) -> np.ndarray:
    return a - np.logaddexp.reduce(a, axis=axis, keepdims=True)


class TrueHMM:
    """The generating process: K sticky cyclic states, each emitting from an overlapping set of symbols."""

    def __init__(self, n_states: int = 4, n_symbols: int = 24, stick: float = 0.8, width: int = 9, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.K, self.V = n_states, n_symbols
        self.start = np.full(n_states, 1.0 / n_states)
        self.trans = np.full((n_states, n_states), (1 - stick) / (n_states - 1))     # [next, prev]
        for k in range(n_states):
            self.trans[(k + 1) % n_states, k] = stick
        self.emit = np.zeros((n_symbols, n_states))                                  # [symbol, state]
        step = n_symbols // n_states
        for k in range(n_states):
            support = (k * step + np.arange(width)) % n_symbols                       # overlaps the next state's
            self.emit[support, k] = rng.dirichlet(np.ones(width))

    def sample(self, n: int, length: int, rng):
        """(symbols (n, T), states (n, T))."""
        z = np.zeros((n, length), dtype=np.int64)
        x = np.zeros((n, length), dtype=np.int64)
        z[:, 0] = rng.choice(self.K, n, p=self.start)
        for t in range(length):
            if t:
                z[:, t] = [rng.choice(self.K, p=self.trans[:, j]) for j in z[:, t - 1]]
            x[:, t] = [rng.choice(self.V, p=self.emit[:, k]) for k in z[:, t]]
        return x, z

    def log_params(self):
        with np.errstate(divide="ignore"):
            return np.log(self.start), np.log(self.trans), np.log(self.emit)


def forward_numpy(log_start, log_trans, log_emit, x: np.ndarray):
    """Forward and backward log-messages for sequences x (n, T): (log p(x) (n,), posteriors (n, T, K))."""
    n, T = x.shape
    alpha = np.zeros((n, T, len(log_start)))
    alpha[:, 0] = log_start + log_emit[x[:, 0]]
    for t in range(1, T):
        alpha[:, t] = log_emit[x[:, t]] + np.logaddexp.reduce(log_trans[None] + alpha[:, t - 1, None, :], axis=2)
    beta = np.zeros_like(alpha)
    for t in range(T - 2, -1, -1):
        beta[:, t] = np.logaddexp.reduce(log_trans[None] + (log_emit[x[:, t + 1]] + beta[:, t + 1])[:, :, None], axis=1)
    log_p = np.logaddexp.reduce(alpha[:, -1], axis=1)
    return log_p, np.exp(alpha + beta - log_p[:, None, None])


class NeuralHMM:
    def __init__(self, pc, n_states: int, n_symbols: int, n_embed: int = 16, n_hidden: int = 32):
        self.K, self.V = n_states, n_symbols
        self.state_embed = pc.add_parameters((n_embed, n_states))
        self.hidden = (pc.add_parameters((n_hidden, n_embed)), pc.add_parameters(n_hidden, init=0.0))
        self.out = (pc.add_parameters((n_symbols, n_hidden)), pc.add_parameters(n_symbols, init=0.0))
        self.trans_logits = pc.add_parameters((n_states, n_states), init=0.0)
        self.start_logits = pc.add_parameters(n_states, init=0.0)

    def log_params(self):
        """Expressions: log pi (K,), log A [next, prev] (K, K), log emission [symbol, state] (V, K)."""
        h = dy.tanh(dy.affine_transform([self.hidden[1], self.hidden[0], self.state_embed]))
        logits = dy.affine_transform([self.out[1], self.out[0], h])            # (V, K): one column per state
        return dy.log_softmax(self.start_logits), dy.log_softmax(self.trans_logits), dy.log_softmax(logits)

    def log_likelihood(self, x: np.ndarray):
        """log p(x) per sequence by the forward recursion, as (1,) x n for symbols x (n, T)."""
        log_start, log_trans, log_emit = self.log_params()
        emit_t = dy.transpose(log_emit)                                           # (K, V)

        def emission(t):                                                          # log p(x_t | k): (K,) x n
            onehot = np.zeros((self.V, len(x)), dtype=np.float32)
            onehot[x[:, t], np.arange(len(x))] = 1.0
            return emit_t * dy.inputTensor(onehot, batched=True)

        alpha = log_start + emission(0)
        for t in range(1, x.shape[1]):
            # alpha'[k] = e_t[k] + logsumexp_j (A[k, j] + alpha[j]): a row of alpha broadcast over k.
            alpha = emission(t) + dy.logsumexp_dim(log_trans + dy.transpose(alpha), d=1)
        return dy.logsumexp_dim(alpha, d=0)

    def numpy_params(self):
        dy.renew_cg()
        return tuple(np.asarray(e.npvalue(), dtype=np.float64) for e in self.log_params())


def train(model: NeuralHMM, trainer, x, epochs: int, batch_size: int, rng, quiet=False) -> list[float]:
    """Maximises the marginal log-likelihood; returns each epoch's mean log p per symbol."""
    per_sequence = train_epochs(lambda idx: -dy.sum_batches(model.log_likelihood(x[idx])) * (1.0 / len(idx)),
                                trainer, len(x), epochs, batch_size, rng, quiet, "neural HMM")
    return [-v / x.shape[1] for v in per_sequence]


def baum_welch(x: np.ndarray, n_states: int, n_symbols: int, iterations: int, rng):
    """A classical HMM fitted by EM from a random start: (log pi, log A [next, prev], log B [symbol, state])."""
    log_start = np.full(n_states, -np.log(n_states))
    log_trans = log_normalise(np.log(rng.dirichlet(np.ones(n_states) * 5, n_states).T), axis=0)
    log_emit = log_normalise(np.log(rng.dirichlet(np.ones(n_symbols), n_states).T), axis=0)
    for _ in range(iterations):
        n, T = x.shape
        alpha = np.zeros((n, T, n_states))
        alpha[:, 0] = log_start + log_emit[x[:, 0]]
        for t in range(1, T):
            alpha[:, t] = log_emit[x[:, t]] + np.logaddexp.reduce(log_trans[None] + alpha[:, t - 1, None, :], axis=2)
        beta = np.zeros_like(alpha)
        for t in range(T - 2, -1, -1):
            beta[:, t] = np.logaddexp.reduce(log_trans[None] + (log_emit[x[:, t + 1]] + beta[:, t + 1])[:, :, None],
                                             axis=1)
        log_p = np.logaddexp.reduce(alpha[:, -1], axis=1)
        gamma = np.exp(alpha + beta - log_p[:, None, None])
        # xi[n, t, next, prev] summed over sequences and steps.
        xi = np.exp(alpha[:, :-1, None, :] + log_trans[None, None] + (log_emit[x[:, 1:]] + beta[:, 1:])[:, :, :, None]
                    - log_p[:, None, None, None]).sum(axis=(0, 1))
        log_start = np.log(gamma[:, 0].mean(axis=0) + 1e-12)
        log_trans = log_normalise(np.log(xi + 1e-12), axis=0)
        counts = np.zeros((n_symbols, n_states))
        np.add.at(counts, x.ravel(), gamma.reshape(-1, n_states))
        log_emit = log_normalise(np.log(counts + 1e-12), axis=0)
    return log_start, log_trans, log_emit


def state_accuracy(posteriors: np.ndarray, z: np.ndarray) -> float:
    """Accuracy of argmax posterior states under the best one-to-one matching to the true states."""
    pred = posteriors.argmax(axis=2)
    k = posteriors.shape[2]
    return max(float(np.mean(np.asarray(perm)[pred] == z)) for perm in itertools.permutations(range(k)))


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--states", type=int, default=4)
    p.add_argument("--symbols", type=int, default=24)
    p.add_argument("--stick", type=float, default=0.8)
    p.add_argument("--length", type=int, default=30)
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--em-iterations", type=int, default=100)
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    truth = TrueHMM(args.states, args.symbols, args.stick, seed=args.seed)
    x_train, _ = truth.sample(args.n_train, args.length, rng)
    x_test, z_test = truth.sample(args.n_test, args.length, rng)
    per_symbol = x_test.size
    ref_ll, ref_post = forward_numpy(*truth.log_params(), x_test)
    pc = dy.ParameterCollection()
    model = NeuralHMM(pc, args.states, args.symbols)
    curve = train(model, dy.AdamTrainer(pc, args.lr), x_train, args.epochs, args.batch_size, rng, args.quiet)
    nn_ll, nn_post = forward_numpy(*model.numpy_params(), x_test)
    em_ll, em_post = forward_numpy(*baum_welch(x_train, args.states, args.symbols, args.em_iterations, rng), x_test)
    rows = [("data", f"{args.states} states, {args.symbols} symbols, {args.n_train} x {args.length} training symbols"),
            ("train log p per symbol, first / last epoch", f"{curve[0]:.4f} / {curve[-1]:.4f}"),
            ("test log p per symbol: true HMM (reference)", float(ref_ll.sum() / per_symbol)),
            ("test log p per symbol: neural HMM", float(nn_ll.sum() / per_symbol)),
            (f"test log p per symbol: Baum-Welch HMM ({args.em_iterations} EM steps)", float(em_ll.sum() / per_symbol)),
            ("state accuracy (posterior argmax, best matching): true HMM", state_accuracy(ref_post, z_test)),
            ("state accuracy: neural HMM", state_accuracy(nn_post, z_test)),
            ("state accuracy: Baum-Welch HMM", state_accuracy(em_post, z_test))]
    print_report("Neural HMM trained on the marginal likelihood", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
