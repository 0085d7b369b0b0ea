"""Bayesian neural network by variational inference ("Bayes by Backprop"; Blundell et al., 2015)
beside MC dropout, on 8x8 digits.

Every weight has a Gaussian posterior q(w) = N(mu, sigma^2), sigma = softplus(rho),
and a Gaussian prior N(0, s^2). A minibatch draws one set of weights by the
reparameterisation w = mu + sigma * eps (eps ~ N(0, 1) from dy.random_normal), so
the loss

    mean NLL of the minibatch + KL(q || prior) / N_train

(the negative ELBO per training example) is differentiable in mu and rho. At test
time T weight draws give T softmax vectors whose mean is the predictive
distribution. Compared on the same split with the MC-dropout net of
``mc_dropout/mc_dropout.py`` (same shape, T passes): accuracy, NLL, expected
calibration error, and how much larger the predictive variance is on the
digits each model gets wrong.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from mc_dropout.mc_dropout import DropoutMLP, reliability_plot, scores, train as train_dropout  # noqa: E402
from zoo_common import (train_epochs, base_parser, batch_input, batch_values, load_digits,  # noqa: E402
                        print_report, seed_everything, softplus)


class BayesianLayer:
    """A dense layer whose weight and bias are Gaussian: (mu, rho) parameters for each."""

    def __init__(self, pc, n_in: int, n_out: int, rho_init: float = -5.0):
        self.shapes = ((n_out, n_in), (n_out,))
        self.mu = [pc.add_parameters((n_out, n_in)), pc.add_parameters(n_out, init=0.0)]
        self.rho = [pc.add_parameters(s, init=rho_init) for s in self.shapes]

    def sample(self):
        """(W, b) drawn by the reparameterisation trick, and their sigmas."""
        draws, sigmas = [], []
        for mu, rho, shape in zip(self.mu, self.rho, self.shapes):
            sigma = softplus(rho)
            draws.append(mu + dy.cmult(sigma, dy.random_normal(shape)))
            sigmas.append(sigma)
        return draws, sigmas

    def mean(self):
        return list(self.mu)

    def kl(self, sigmas, prior_sigma: float):
        """KL(N(mu, sigma^2) || N(0, s^2)) summed over the layer's weights, in closed form."""
        s2 = prior_sigma ** 2
        total = None
        for mu, sigma in zip(self.mu, sigmas):
            term = dy.sum_elems((dy.square(sigma) + dy.square(mu)) * (0.5 / s2) - dy.log(sigma))
            n = int(np.prod(mu.shape()))
            term = term + n * (np.log(prior_sigma) - 0.5)
            total = term if total is None else total + term
        return total


class BayesMLP:
    def __init__(self, pc, n_in=64, n_hidden=100, n_out=10, prior_sigma=0.3, rho_init=-5.0):
        dims = [n_in, n_hidden, n_hidden, n_out]
        self.layers = [BayesianLayer(pc, i, o, rho_init) for i, o in zip(dims[:-1], dims[1:])]
        self.prior_sigma = prior_sigma

    def logits_and_kl(self, x, sample: bool = True):
        """Logits under one weight draw (or the posterior means) and the draw's KL term."""
        kl = None
        for j, layer in enumerate(self.layers):
            if sample:
                (W, b), sigmas = layer.sample()
                term = layer.kl(sigmas, self.prior_sigma)
                kl = term if kl is None else kl + term
            else:
                W, b = layer.mean()
            x = dy.affine_transform([b, W, x])
            if j < len(self.layers) - 1:
                x = dy.rectify(x)
        return x, kl

    def probs(self, rows: np.ndarray, sample: bool) -> np.ndarray:
        dy.renew_cg()
        logits, _ = self.logits_and_kl(batch_input(rows), sample)
        return batch_values(dy.softmax(logits))

    def mc_probs(self, rows: np.ndarray, passes: int) -> np.ndarray:
        """(T, N, classes): one softmax per weight draw."""
        return np.stack([self.probs(rows, True) for _ in range(passes)])


def train(net: BayesMLP, trainer, x, y, epochs, batch_size, rng, quiet=False, kl_weight: float = 1.0) -> list[float]:
    """Minimises the negative ELBO per example (kl_weight 1); returns each epoch's mean (NLL + w KL / N)."""
    n = len(x)

    def loss_of(idx):
        logits, kl = net.logits_and_kl(batch_input(x[idx]))
        return dy.mean_batches(dy.pickneglogsoftmax_batch(logits, [int(t) for t in y[idx]])) + kl * (kl_weight / n)

    return train_epochs(loss_of, trainer, n, epochs, batch_size, rng, quiet, "bayes by backprop")


def variance_on_errors(mc: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean variance of p(predicted class) over passes, on correct and on wrong predictions."""
    pred = mc.mean(axis=0).argmax(axis=1)
    var = mc[:, np.arange(len(pred)), pred].var(axis=0)
    wrong = pred != y
    return float(var[~wrong].mean()), float(var[wrong].mean()) if wrong.any() else float("nan")


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--prior-sigma", type=float, default=0.3)
    p.add_argument("--kl-weight", type=float, default=1.0,
                   help="weight of the KL term (1: the ELBO; < 1 tempers the posterior)")
    p.add_argument("--dropout", type=float, default=0.2, help="the MC-dropout net's rate")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--passes", type=int, default=50, help="T weight draws / dropout passes")
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    x_train, y_train, x_test, y_test = load_digits()
    pc_bbb, pc_mc = dy.ParameterCollection(), dy.ParameterCollection()
    bbb = BayesMLP(pc_bbb, n_hidden=args.hidden, prior_sigma=args.prior_sigma)
    mc_net = DropoutMLP(pc_mc, n_hidden=args.hidden, p=args.dropout)
    curve = train(bbb, dy.AdamTrainer(pc_bbb, args.lr), x_train, y_train, args.epochs, args.batch_size, rng, args.quiet,
                  args.kl_weight)
    train_dropout(mc_net, dy.AdamTrainer(pc_mc, args.lr), x_train, y_train, args.epochs, args.batch_size, rng,
                  args.quiet, "dropout net")
    draws = {f"Bayes by Backprop (T={args.passes})": bbb.mc_probs(x_test, args.passes),
             f"MC dropout (T={args.passes})": mc_net.mc_probs(x_test, args.passes)}
    named = {name: mc.mean(axis=0) for name, mc in draws.items()}
    named["Bayes by Backprop, posterior mean"] = bbb.probs(x_test, False)
    rows = [("negative ELBO per example, first / last epoch", f"{curve[0]:.4f} / {curve[-1]:.4f}")]
    results = {}
    for name, probs in named.items():
        results[name] = s = scores(probs, y_test)
        rows.append((name, f"acc {s['accuracy']:.4f}  NLL {s['NLL']:.4f}  ECE {s['ECE']:.4f}"))
    for name, mc in draws.items():
        right, wrong = variance_on_errors(mc, y_test)
        results[name]["variance correct/wrong"] = (right, wrong)
        rows.append((f"{name}: predictive variance, correct / wrong", f"{right:.4f} / {wrong:.4f}"))
    rows.append(("figure", reliability_plot(named, y_test, args.out / "bayes_by_backprop_reliability.png")))
    print_report("Bayes by Backprop vs MC dropout on 8x8 digits (test split)", rows)
    return results


if __name__ == "__main__":
    main()
