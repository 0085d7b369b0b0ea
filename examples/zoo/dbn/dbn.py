"""Deep belief network on 8x8 digits by greedy layer-wise stacking of RBMs (Hinton et al., 2006).

Layer 1 is an RBM on the binarised pixels; layer l+1 is an RBM trained on
samples of layer l's hidden units given the data. The DBN's generative model is
the top RBM over (h_{L-1}, h_L) with directed sigmoid layers below it.

Reports, per layer: reconstruction error and the test accuracy of a logistic
regression on the layer's features (a linear probe); and for two layers the
variational lower bound on log p(v) with q(h1|v) from the first RBM,

    log p(v) >= E_q[ log p2(h1) + log p(v|h1) - log q(h1|v) ],

where p2 is the top RBM (its log Z exact by enumeration when small, AIS
otherwise) — to compare with the layer-1 RBM's own log-likelihood.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rbm"))
import dynagraph as dy                                          # noqa: E402
from rbm import RBM, ais_log_z, exact_log_z, sigmoid, train_rbm  # noqa: E402
from zoo_common import base_parser, load_digits, print_report, save_image_grid, seed_everything, sklearn  # noqa: E402


def log_odds(x: np.ndarray) -> np.ndarray:
    m = np.clip(x.mean(axis=0), 1e-3, 1 - 1e-3)
    return np.log(m / (1 - m))


def log_z(rbm: RBM, base: np.ndarray, rng) -> float:
    return exact_log_z(rbm) if rbm.n_hidden <= 22 else ais_log_z(rbm, base, rng)[0]


class DBN:
    """A stack of RBMs; ``layers[i]`` models the activity below it."""

    def __init__(self, sizes: list[int]):
        self.sizes = sizes
        self.pcs = [dy.ParameterCollection() for _ in sizes[1:]]
        self.layers: list[RBM] = []

    def fit(self, x, epochs, batch_size, lr, k, persistent, rng, quiet=False):
        """Greedy training, one RBM at a time; returns each layer's per-epoch reconstruction errors."""
        history, data = [], x
        for i, pc in enumerate(self.pcs):
            rbm = RBM(self.sizes[i], self.sizes[i + 1], pc, visible_bias=log_odds(data))
            self.layers.append(rbm)
            history.append(train_rbm(rbm, dy.MomentumSGDTrainer(pc, lr, 0.9), data, epochs, batch_size, k,
                                     persistent, rng, quiet, desc=f"layer {i + 1}"))
            p = rbm.hidden_probs(data)
            data = (rng.random(p.shape) < p).astype(np.float64)          # the next layer's training data
        return history

    def features(self, x):
        """Mean-field up-pass: the hidden probabilities of every layer."""
        feats = []
        for rbm in self.layers:
            x = rbm.hidden_probs(x)
            feats.append(x)
        return feats

    def sample(self, n: int, gibbs_steps: int, rng):
        """Gibbs in the top RBM, then one down-pass of mean values through the directed layers."""
        top = self.layers[-1]
        v = top.gibbs((rng.random((n, top.n_visible)) < 0.5).astype(np.float64), gibbs_steps, rng)
        for rbm in reversed(self.layers[:-1]):
            v = rbm.visible_probs(v)
            if rbm is not self.layers[0]:
                v = (rng.random(v.shape) < v).astype(np.float64)
        return v

    def lower_bound(self, v, log_z_top: float, rng, n_samples: int = 10) -> float:
        """Mean variational bound on log p(v) for a two-layer DBN, q(h1|v) = the first RBM's posterior."""
        if len(self.layers) != 2:
            raise ValueError(f"DBN.lower_bound: defined here for 2 layers, got {len(self.layers)}")
        bottom, top = self.layers
        W, b, _ = bottom.params()
        q = bottom.hidden_probs(v)
        total = np.zeros(len(v))
        for _ in range(n_samples):
            h = (rng.random(q.shape) < q).astype(np.float64)
            log_q = np.sum(h * np.log(q + 1e-12) + (1 - h) * np.log(1 - q + 1e-12), axis=1)
            a = h @ W + b
            log_pv = np.sum(v * a - np.logaddexp(0.0, a), axis=1)
            log_ph = -top.np_free_energy(h) - log_z_top
            total += log_ph + log_pv - log_q
        return float(np.mean(total / n_samples))


def probe_accuracy(f_train, y_train, f_test, y_test) -> float:
    clf = sklearn("linear_model").LogisticRegression(max_iter=2000).fit(f_train, y_train)
    return float(clf.score(f_test, y_test))


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 64, 16], help="layer sizes, pixels first")
    p.add_argument("--epochs", type=int, default=40, help="epochs per layer")
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--pcd", action="store_true")
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    x_train, y_train, x_test, y_test = load_digits(binarize=True)
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    dbn = DBN(args.sizes)
    history = dbn.fit(x_train, args.epochs, args.batch_size, args.lr, args.k, args.pcd, rng, args.quiet)
    rows = [("layers", " -> ".join(map(str, args.sizes))),
            ("probe accuracy, pixels", probe_accuracy(x_train, y_train, x_test, y_test))]
    f_train, f_test = dbn.features(x_train), dbn.features(x_test)
    for i, h in enumerate(history):
        rows.append((f"layer {i + 1} recon. error first/last epoch", f"{h[0]:.3f} / {h[-1]:.3f}"))
        rows.append((f"probe accuracy, layer {i + 1}", probe_accuracy(f_train[i], y_train, f_test[i], y_test)))
    if len(dbn.layers) == 2:
        rbm1 = dbn.layers[0]
        ll1 = float(np.mean(-rbm1.np_free_energy(x_test) - log_z(rbm1, log_odds(x_train), rng)))
        h1 = sigmoid(x_train @ rbm1.params()[0].T + rbm1.params()[2])
        bound = dbn.lower_bound(x_test, log_z(dbn.layers[1], log_odds(h1), rng), rng)
        rows += [("test log p(v), layer-1 RBM", ll1), ("test log p(v) lower bound, 2-layer DBN", bound)]
    png = save_image_grid([dbn.sample(12, 1000, rng)], args.out / "dbn_samples.png", ["DBN samples"])
    rows.append(("figure", png))
    print_report("Deep belief network on binarised 8x8 digits", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
