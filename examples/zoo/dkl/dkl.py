"""Deep kernel learning (Wilson et al., 2016): an exact GP whose RBF kernel acts on learned features.

``k(x, x') = sf^2 exp(-|g(x) - g(x')|^2 / (2 ell^2))`` with g a small tanh MLP
(for the plain GP, g(x) = x). The network and the hyper-parameters
(log ell, log sf, log sn) are trained together by minimising the negative log
marginal likelihood of the n training targets,

    NLML = 1/2 y^T K^-1 y + 1/2 log det K + n/2 log 2 pi,   K = k(X, X) + sn^2 I,

built in dynagraph with ``dy.inverse`` and ``dy.logdet`` and differentiated by
the engine. Predictions use the usual GP posterior mean and variance.

Task: a 1-D function with a jump and a wiggle, f(x) = sign(x) + 0.3 sin(6 x),
observed with Gaussian noise at random points in [-1, 1]; a stationary RBF
kernel must pick one length-scale for both the jump and the smooth parts, a
learned warping need not. Reported: test RMSE against the noise-free f.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import (base_parser, have_matplotlib, print_report, progress, save_figure,  # noqa: E402
                        seed_everything)

LOG_2PI = float(np.log(2 * np.pi))


def target(x: np.ndarray) -> np.ndarray:
    return np.sign(x) + 0.3 * np.sin(6 * x)


def make_data(n_train: int, noise: float, rng, n_test: int = 400):
    x = np.sort(rng.uniform(-1, 1, n_train))
    x_test = np.linspace(-1, 1, n_test)
    return x, target(x) + noise * rng.normal(size=n_train), x_test, target(x_test)


class GP:
    """Exact GP regression with an RBF kernel on g(x); ``hidden=0`` makes g the identity (plain GP)."""

    def __init__(self, pc: dy.ParameterCollection, hidden: int = 0, n_features: int = 2, jitter: float = 1e-4):
        self.jitter = jitter
        self.log_ell = pc.add_parameters(1, init=float(np.log(0.3)))
        self.log_sf = pc.add_parameters(1, init=0.0)
        self.log_sn = pc.add_parameters(1, init=float(np.log(0.3)))
        dims = [1, hidden, hidden, n_features] if hidden else []
        self.layers = [(pc.add_parameters((o, i)), pc.add_parameters(o, init=0.0)) for i, o in zip(dims[:-1], dims[1:])]

    def features(self, x: np.ndarray):
        """g(x) for points x (n,) as a (d, n) expression."""
        h = dy.inputTensor(np.asarray(x, dtype=np.float32).reshape(1, -1))
        for j, (W, b) in enumerate(self.layers):
            h = dy.colwise_add(W * h, b)
            if j < len(self.layers) - 1:
                h = dy.tanh(h)
        return h

    def kernel(self, fa, fb, na: int, nb: int):
        """sf^2 exp(-|a - b|^2 / (2 ell^2)) for feature columns fa (d, na), fb (d, nb): (na, nb)."""
        scale = dy.exp(-dy.parameter(self.log_ell))
        fa, fb = dy.cmult(fa, scale), dy.cmult(fb, scale)
        sa = dy.reshape(dy.sum_dim(dy.square(fa), [0]), (na, 1))
        sb = dy.reshape(dy.sum_dim(dy.square(fb), [0]), (1, nb))
        d2 = sa * dy.inputTensor(np.ones((1, nb))) + dy.inputTensor(np.ones((na, 1))) * sb - 2 * (dy.transpose(fa) * fb)
        return dy.cmult(dy.exp(-0.5 * d2), dy.exp(2 * dy.parameter(self.log_sf)))

    def nlml(self, x: np.ndarray, y: np.ndarray):
        """Negative log marginal likelihood of y (n,) at x (n,), a (1,) expression."""
        n = len(x)
        f = self.features(x)
        noise = dy.cmult(dy.inputTensor(np.eye(n)), dy.exp(2 * dy.parameter(self.log_sn)) + self.jitter)
        K = self.kernel(f, f, n, n) + noise
        yv = dy.inputTensor(np.asarray(y, dtype=np.float32).reshape(n, 1))
        fit = dy.transpose(yv) * dy.inverse(K) * yv
        return 0.5 * dy.reshape(fit, (1,)) + 0.5 * dy.logdet(K) + 0.5 * n * LOG_2PI

    def predict(self, x: np.ndarray, y: np.ndarray, x_new: np.ndarray):
        """Posterior mean and variance of f at x_new (in float64, by Cholesky)."""
        n, m = len(x), len(x_new)
        dy.renew_cg()
        f, g = self.features(x), self.features(x_new)
        K = self.kernel(f, f, n, n).npvalue().astype(np.float64)
        Ks = self.kernel(f, g, n, m).npvalue().astype(np.float64).reshape(n, m)
        sf2 = float(np.exp(2 * self.log_sf.as_array()[0]))
        sn2 = float(np.exp(2 * self.log_sn.as_array()[0]))
        L = np.linalg.cholesky(K + (sn2 + self.jitter) * np.eye(n))
        alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
        v = np.linalg.solve(L, Ks)
        return Ks.T @ alpha, np.maximum(sf2 - np.sum(v * v, axis=0), 0.0)

    def hyper(self) -> dict:
        return {k: float(np.exp(getattr(self, f"log_{k}").as_array()[0])) for k in ("ell", "sf", "sn")}


def fit(gp: GP, trainer, x, y, steps: int, quiet=False, desc="gp") -> list[float]:
    curve = []
    for _ in progress(range(steps), desc, quiet):
        dy.renew_cg()
        loss = gp.nlml(x, y)
        curve.append(loss.value())
        loss.backward()
        trainer.update()
    return curve


def plot(x, y, x_test, f_test, preds: dict, path: Path):
    if not have_matplotlib():
        return None
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(preds), figsize=(5 * len(preds), 3.5), squeeze=False, sharey=True)
    for ax, (name, (mean, var, rmse)) in zip(axes[0], preds.items()):
        sd = np.sqrt(var)
        ax.fill_between(x_test, mean - 2 * sd, mean + 2 * sd, color="tab:blue", alpha=0.2)
        ax.plot(x_test, f_test, "k--", lw=1, label="true f")
        ax.plot(x_test, mean, "tab:blue", lw=1.5, label="posterior mean")
        ax.plot(x, y, "k.", ms=3)
        ax.set_title(f"{name}: test RMSE {rmse:.3f}")
    axes[0][0].legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=100)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--features", type=int, default=2)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seeds", type=int, default=1, help="repeat on this many data sets / initialisations")
    args = p.parse_args(argv)
    rows, preds, rmses = [], {}, {"plain GP": [], "deep kernel GP": []}
    for seed in range(args.seed, args.seed + args.seeds):
        rng = seed_everything(seed)
        x, y, x_test, f_test = make_data(args.n_train, args.noise, rng)
        for name, hidden in (("plain GP", 0), ("deep kernel GP", args.hidden)):
            pc = dy.ParameterCollection()
            gp = GP(pc, hidden, args.features)
            curve = fit(gp, dy.AdamTrainer(pc, args.lr), x, y, args.steps, args.quiet, f"{name} seed {seed}")
            mean, var = gp.predict(x, y, x_test)
            rmses[name].append(float(np.sqrt(np.mean((mean - f_test) ** 2))))
            if seed == args.seed:                                     # the first seed is the one plotted
                preds[name] = (mean, var, rmses[name][-1])
                h = gp.hyper()
                rows += [(f"{name}: NLML first/last (seed {seed})", f"{curve[0]:.2f} / {curve[-1]:.2f}"),
                         (f"{name}: ell / sf / sn", f"{h['ell']:.3f} / {h['sf']:.3f} / {h['sn']:.3f}"),
                         (f"{name}: test RMSE", rmses[name][-1])]
        if seed == args.seed:
            data = (x, y, x_test, f_test)
    if args.seeds > 1:
        for name, r in rmses.items():
            rows.append((f"{name}: test RMSE over {args.seeds} seeds", f"{np.mean(r):.4f} +- {np.std(r):.4f}  {np.round(r, 3).tolist()}"))
    x, y, x_test, f_test = data
    rows.insert(0, ("data", f"{args.n_train} points, noise sd {args.noise}"))
    rows.append(("figure", plot(x, y, x_test, f_test, preds, args.out / "dkl_fit.png")))
    print_report("Deep kernel learning vs plain GP, f(x) = sign(x) + 0.3 sin(6x)", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
