"""Binary restricted Boltzmann machine trained with CD-k or persistent CD on 8x8 digits.

The energy of a visible/hidden configuration is ``E(v, h) = -b.v - c.h - h.W v``;
summing out h gives the free energy ``F(v) = -b.v - sum_j softplus(c_j + W_j v)``
and ``p(v) = exp(-F(v)) / Z``. The gradient of the negative log-likelihood is

    d(-log p(v))/dθ = dF(v)/dθ - E_model[dF(v')/dθ]

so the loss ``mean F(v_data) - mean F(v_neg)``, with the negative samples v_neg
held constant, has exactly the CD (or PCD) gradient when v_neg come from k Gibbs
steps (started at the data for CD, at persistent chains for PCD). dynagraph
differentiates F; sampling is plain NumPy.

Evaluation: reconstruction error, exact log-likelihood by enumerating the hidden
states (up to ~20 hidden units) and an annealed-importance-sampling estimate of
log Z (Salakhutdinov & Murray, 2008) for larger models.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import (base_parser, batch_input, load_digits, minibatches, print_report,  # noqa: E402
                        progress, save_image_grid, seed_everything, softplus)


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def np_softplus(x):
    return np.logaddexp(0.0, x)


class RBM:
    """``RBM(n_visible, n_hidden, pc)``: W (H, V), visible bias b (V,), hidden bias c (H,)."""

    def __init__(self, n_visible: int, n_hidden: int, pc: dy.ParameterCollection, visible_bias=None):
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.W = pc.add_parameters((n_hidden, n_visible), init=dy.NormalInitializer(0.0, 0.01))  # variance: sd 0.1
        self.b = pc.add_parameters(n_visible, init=0.0)
        self.c = pc.add_parameters(n_hidden, init=0.0)
        if visible_bias is not None:
            self.b.set_value(np.asarray(visible_bias, dtype=np.float32))

    # ---- graph side: the free energy and the CD loss
    def free_energy(self, v):
        """F(v) for a (V,) x B expression: (1,) x B."""
        return -dy.dot_product(self.b, v) - dy.sum_elems(softplus(self.W * v + self.c))

    def cd_loss(self, v_data: np.ndarray, v_neg: np.ndarray, neg_weights: np.ndarray | None = None):
        """mean_data F - mean_neg F (or the neg_weights-weighted sum) as a (1,) expression.

        Rows of v_data and v_neg are configurations. Its gradient is the CD estimate of the NLL gradient.
        """
        pos = dy.mean_batches(self.free_energy(batch_input(v_data)))
        f_neg = self.free_energy(batch_input(v_neg))
        if neg_weights is None:
            return pos - dy.mean_batches(f_neg)
        w = dy.inputTensor(np.asarray(neg_weights, dtype=np.float32).reshape(1, -1), batched=True)
        return pos - dy.sum_batches(dy.cmult(f_neg, w))

    # ---- NumPy side: sampling and evaluation
    def params(self):
        return (self.W.as_array().astype(np.float64), self.b.as_array().astype(np.float64),
                self.c.as_array().astype(np.float64))

    def hidden_probs(self, v, params=None):
        W, _, c = params or self.params()
        return sigmoid(v @ W.T + c)

    def visible_probs(self, h, params=None):
        W, b, _ = params or self.params()
        return sigmoid(h @ W + b)

    def gibbs(self, v, k: int, rng: np.random.Generator, params=None):
        """k steps v -> h -> v of block Gibbs sampling from rows v; returns the sampled v."""
        params = params or self.params()
        for _ in range(k):
            h = (rng.random((len(v), self.n_hidden)) < self.hidden_probs(v, params)).astype(np.float64)
            v = (rng.random((len(v), self.n_visible)) < self.visible_probs(h, params)).astype(np.float64)
        return v

    def np_free_energy(self, v, params=None):
        W, b, c = params or self.params()
        return -v @ b - np_softplus(v @ W.T + c).sum(axis=1)

    def reconstruction_error(self, v):
        """Mean squared error per image of the mean-field reconstruction v -> p(h|v) -> p(v|h)."""
        params = self.params()
        return float(np.mean(np.sum((v - self.visible_probs(self.hidden_probs(v, params), params)) ** 2, axis=1)))


def all_states(n: int) -> np.ndarray:
    """The 2^n binary vectors of length n as rows."""
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def exact_log_z(rbm: RBM, chunk: int = 1 << 14) -> float:
    """log Z by enumerating the 2^H hidden states: log sum_h exp(c.h + sum_i softplus(b_i + (W^T h)_i))."""
    if rbm.n_hidden > 24:
        raise ValueError(f"exact_log_z: 2^{rbm.n_hidden} hidden states is too many to enumerate")
    W, b, c = rbm.params()
    parts = []
    for start in range(0, 2 ** rbm.n_hidden, chunk):
        idx = np.arange(start, min(start + chunk, 2 ** rbm.n_hidden))
        h = ((idx[:, None] >> np.arange(rbm.n_hidden)) & 1).astype(np.float64)
        s = h @ c + np_softplus(h @ W + b).sum(axis=1)
        parts.append(np.logaddexp.reduce(s))
    return float(np.logaddexp.reduce(parts))


def ais_log_z(rbm: RBM, base_bias: np.ndarray, rng: np.random.Generator, n_runs: int = 100,
              n_betas: int = 10000) -> tuple[float, float]:
    """AIS estimate of log Z and its +-3 standard-error half-width, from a base RBM with W = 0, c = 0
    and visible bias base_bias (usually the data's log-odds), annealing the parameters linearly in beta."""
    W, b, c = rbm.params()
    betas = np.concatenate([np.linspace(0, 0.5, n_betas // 10, endpoint=False),
                            np.linspace(0.5, 0.9, n_betas * 3 // 10, endpoint=False),
                            np.linspace(0.9, 1.0, n_betas - n_betas // 10 - n_betas * 3 // 10)])

    def log_pstar(v, beta):
        return (1 - beta) * v @ base_bias + beta * v @ b + np_softplus(beta * (v @ W.T + c)).sum(axis=1)

    v = (rng.random((n_runs, rbm.n_visible)) < sigmoid(base_bias)).astype(np.float64)
    log_w = np.zeros(n_runs)
    for prev, beta in zip(betas[:-1], betas[1:]):
        log_w += log_pstar(v, beta) - log_pstar(v, prev)
        h = (rng.random((n_runs, rbm.n_hidden)) < sigmoid(beta * (v @ W.T + c))).astype(np.float64)
        v = (rng.random((n_runs, rbm.n_visible)) < sigmoid((1 - beta) * base_bias + beta * (h @ W + b))).astype(np.float64)
    log_z_base = np_softplus(base_bias).sum() + rbm.n_hidden * np.log(2.0)
    m = log_w.max()
    log_mean_w = m + np.log(np.mean(np.exp(log_w - m)))
    # Delta method on the mean of the weights: sd(log mean w) ~ sd(w) / (sqrt(n) mean(w)).
    w = np.exp(log_w - m)
    half = 3 * np.std(w) / (np.sqrt(n_runs) * np.mean(w))
    return float(log_z_base + log_mean_w), float(half)


def mean_log_likelihood(rbm: RBM, v: np.ndarray, log_z: float) -> float:
    return float(np.mean(-rbm.np_free_energy(v) - log_z))


def train_rbm(rbm: RBM, trainer, x: np.ndarray, epochs: int, batch_size: int, k: int, persistent: bool,
              rng: np.random.Generator, quiet: bool = False, desc: str = "rbm", n_chains: int = 0,
              decay: bool = False):
    """CD-k (or PCD-k with n_chains persistent chains, default batch_size) over rows x;
    returns per-epoch reconstruction errors."""
    chains = (rng.random((n_chains or batch_size, rbm.n_visible)) < 0.5).astype(np.float64)
    history, lr0 = [], trainer.learning_rate
    for epoch in progress(range(epochs), desc, quiet):
        if decay:
            trainer.learning_rate = lr0 * (1.0 - epoch / epochs)             # linear decay to ~0
        for idx in minibatches(len(x), batch_size, rng):
            v_data = x[idx]
            if persistent:
                chains = rbm.gibbs(chains, k, rng)
                v_neg = chains
            else:
                v_neg = rbm.gibbs(v_data, k, rng)
            dy.renew_cg()
            rbm.cd_loss(v_data, v_neg).backward()
            trainer.update()
        history.append(rbm.reconstruction_error(x))
    return history


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=16, help="hidden units (exact log-likelihood up to ~22)")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--k", type=int, default=1, help="Gibbs steps per update")
    p.add_argument("--pcd", action="store_true", help="persistent CD instead of CD-k")
    p.add_argument("--chains", type=int, default=100, help="persistent chains for PCD")
    p.add_argument("--decay", action=argparse.BooleanOptionalAction, default=True,
                   help="decay the learning rate linearly to 0")
    p.add_argument("--ais-runs", type=int, default=100)
    p.add_argument("--ais-betas", type=int, default=10000)
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    x_train, _, x_test, _ = load_digits(binarize=True)
    mean = np.clip(x_train.mean(axis=0), 1e-3, 1 - 1e-3)
    log_odds = np.log(mean / (1 - mean))
    pc = dy.ParameterCollection()
    rbm = RBM(64, args.hidden, pc, visible_bias=log_odds)
    trainer = dy.MomentumSGDTrainer(pc, args.lr, args.momentum)
    name = f"{'PCD' if args.pcd else 'CD'}-{args.k}"
    tag = f"{name}_h{args.hidden}"
    recon = train_rbm(rbm, trainer, x_train.astype(np.float64), args.epochs, args.batch_size, args.k,
                      args.pcd, rng, args.quiet, desc=name, n_chains=args.chains,
                      decay=args.decay)
    log_z_ais, half = ais_log_z(rbm, log_odds, rng, args.ais_runs, args.ais_betas)
    rows = [("training", f"{name}, {args.hidden} hidden, {args.epochs} epochs"),
            ("recon. error (train) first/last epoch", f"{recon[0]:.3f} / {recon[-1]:.3f}"),
            ("recon. error (test)", rbm.reconstruction_error(x_test.astype(np.float64))),
            ("log Z (AIS, +-3 s.e.)", f"{log_z_ais:.3f} +- {half:.3f}"),
            ("test log-likelihood (AIS)", mean_log_likelihood(rbm, x_test, log_z_ais)),
            ("test log-likelihood, independent pixels", float(np.mean(x_test @ log_odds - np_softplus(log_odds).sum())))]
    if args.hidden <= 22:
        log_z = exact_log_z(rbm)
        rows += [("log Z (exact)", log_z), ("test log-likelihood (exact)", mean_log_likelihood(rbm, x_test, log_z)),
                 ("train log-likelihood (exact)", mean_log_likelihood(rbm, x_train, log_z))]
    samples = rbm.gibbs((rng.random((12, 64)) < 0.5).astype(np.float64), 1000, rng)
    png = save_image_grid([x_test[:12], rbm.visible_probs(rbm.hidden_probs(x_test[:12])), samples],
                          args.out / f"rbm_{tag}.png", ["data", "reconstruction", "samples (1000 Gibbs steps)"])
    rows.append(("figure", png))
    print_report("RBM on binarised 8x8 digits", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
