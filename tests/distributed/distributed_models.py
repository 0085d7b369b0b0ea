"""Small models and data shared by the distributed tests and benchmark."""
import time

import numpy as np

import dynagraph as dy


class MLP:
    """s = w2 · tanh(W1 (x + E[token]) + b1) + b2 ; samples are (token, x (4,), label ±1)."""

    def __init__(self, pc, hidden=8):
        self.W1 = pc.add_parameters((hidden, 4), name="W1")
        self.b1 = pc.add_parameters(hidden, name="b1", init=0.0)
        self.W2 = pc.add_parameters((1, hidden), name="W2")
        self.b2 = pc.add_parameters(1, name="b2", init=0.0)
        self.E = pc.add_lookup_parameters((10, 4), name="E", init=dy.NormalInitializer(0, 0.01))

    def score(self, token, x):
        h = dy.tanh(dy.affine_transform([dy.parameter(self.b1), dy.parameter(self.W1),
                                         dy.inputVector(list(x)) + dy.lookup(self.E, token)]))
        return dy.affine_transform([dy.parameter(self.b2), dy.parameter(self.W2), h])


def build_mlp(pc):
    return MLP(pc)


def mlp_loss(model, batch):
    """Sum over the batch of -log σ(y s): one small graph per sample, summed."""
    return dy.esum([-dy.log_sigmoid(model.score(t, x) * float(y)) for t, x, y in batch])


def mlp_data(n=256, seed=0):
    """Two classes separated by a tilted plane plus a per-token offset."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = int(rng.integers(10))
        x = rng.normal(size=4).astype(np.float32)
        y = 1 if x[0] + 0.5 * x[1] - 0.3 * x[2] + (0.5 if t < 5 else -0.5) > 0 else -1
        out.append((t, x, y))
    return out


def accuracy(model, data):
    dy.renew_cg()
    right = 0
    for t, x, y in data:
        s = model.score(t, x).scalar_value()
        right += (s > 0) == (y > 0)
        dy.renew_cg()
    return right / len(data)


class Linear:
    """One M x N matrix, loss Σ_samples ||W x||² / 2: its gradient has exactly K = batch factor pairs."""

    def __init__(self, pc, m=64, n=64):
        self.W = pc.add_parameters((m, n), name="W", init=dy.NormalInitializer(0, 0.01))
        self.n = n


def build_linear(m, n):
    return lambda pc: Linear(pc, m, n)


def linear_loss(model, batch):
    terms = []
    for x in batch:
        y = dy.parameter(model.W) * dy.inputVector(list(x))
        terms.append(dy.dot_product(y, y) * 0.5)
    return dy.esum(terms)


def linear_data(n_samples, dim, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=dim).astype(np.float32) for _ in range(n_samples)]


def paused_linear_loss(model, batch):
    """linear_loss over (x, pause) samples, after sleeping the batch's largest ``pause`` (a slow worker)."""
    time.sleep(max(p for _, p in batch))
    return linear_loss(model, [x for x, _ in batch])


class IssueReuse:
    """Issue 24's case: W, then const_parameter(W), then W again in one graph (two trainable nodes)."""

    def __init__(self, pc):
        self.W = pc.parameters_from_numpy(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), name="W")


def build_issue_reuse(pc):
    return IssueReuse(pc)


def issue_reuse_loss(model, batch):
    terms = []
    for x in batch:
        x = dy.inputVector(list(x))
        terms.append(dy.sum_elems(dy.parameter(model.W) * x + dy.const_parameter(model.W) * x
                                  + dy.parameter(model.W) * x))
    return dy.esum(terms)


ISSUE_REUSE_DATA = [np.array([1.0, 2.0], np.float32), np.array([0.5, -1.0], np.float32)]


class Reuse:
    """Parameters reused in every way the API allows, in one graph per batch:

    W: trainable, then const, then trainable again (two trainable nodes, both in
    products whose factors SFB takes); U: the same, outside any product (a dense
    gradient from two nodes); E: the same row looked up twice, a batched lookup
    repeating a row, and the whole table as one expression; an LSTM builder run
    twice (its parameters' trainable nodes, then its update=False states, then
    trainable again)."""

    def __init__(self, pc, dim=4, hidden=3, rows=6):
        self.W = pc.add_parameters((hidden, dim), name="W")
        self.U = pc.add_parameters(hidden, name="U")
        self.E = pc.add_lookup_parameters((rows, dim), name="E")
        self.lstm = dy.VanillaLSTMBuilder(1, dim, hidden, pc)

    def loss(self, tokens):
        a, b = tokens
        W, E = self.W, self.E
        x = dy.lookup(E, a) + dy.lookup(E, a)  # the same row twice
        h = dy.tanh(dy.parameter(W) * x + dy.parameter(self.U))
        h = h + dy.const_parameter(W) * dy.lookup(E, b) * 0.5 + dy.cmult(dy.const_parameter(self.U), h)
        h = h + dy.tanh(dy.parameter(W) * dy.lookup(E, b)) + dy.cmult(dy.parameter(self.U), dy.parameter(self.U))
        rows = dy.lookup_batch(E, [b, b, a])  # a batch repeating a row
        y = dy.sum_batches(dy.parameter(W) * rows)
        s = self.lstm.initial_state()
        out1 = s.transduce([dy.lookup(E, a), dy.lookup(E, b)])[-1]
        frozen = self.lstm.initial_state(update=False).transduce([dy.lookup(E, b)])[-1]
        out2 = self.lstm.initial_state().transduce([dy.lookup(E, b), x])[-1]  # the builder again
        table = dy.sum_elems(dy.cmult(dy.parameter(E), dy.parameter(E))) * 0.01  # the whole table
        z = dy.cmult(h, h) + y + out1 + frozen + dy.cmult(out2, h) - 1.0
        return 0.5 * dy.squared_norm(z) + table  # bounded below: training lowers it


def build_reuse(pc):
    return Reuse(pc)


def reuse_loss(model, batch):
    return dy.esum([model.loss(t) for t in batch])


def reuse_data(n, rows=6, seed=0):
    rng = np.random.default_rng(seed)
    return [tuple(int(r) for r in rng.integers(rows, size=2)) for _ in range(n)]
