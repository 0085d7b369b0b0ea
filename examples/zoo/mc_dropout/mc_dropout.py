"""Bayesian neural network by Monte-Carlo dropout (Gal & Ghahramani, 2016) on 8x8 digits.

An MLP ``64 -> relu -> dropout -> relu -> dropout -> 10`` is trained with
dropout as usual. At test time dropout stays on: T stochastic passes give T
softmax vectors whose mean is the predictive distribution and whose spread (the
variance of the predicted class's probability over passes) is the model's
uncertainty. Compared, on held-out digits, with

* the same weights with dropout off (the usual deterministic prediction), and
* a net of the same shape trained without dropout,

by accuracy, negative log-likelihood and expected calibration error (ECE: the
sample-weighted mean |accuracy - confidence| over 15 equal-width confidence bins).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import (base_parser, batch_input, batch_values, have_matplotlib, load_digits,  # noqa: E402
                        minibatches, print_report, progress, save_figure, seed_everything)


class DropoutMLP:
    def __init__(self, pc, n_in=64, n_hidden=256, n_out=10, p=0.5):
        self.p = p
        dims = [n_in, n_hidden, n_hidden, n_out]
        self.layers = [(pc.add_parameters((o, i)), pc.add_parameters(o, init=0.0)) for i, o in zip(dims[:-1], dims[1:])]

    def logits(self, x, stochastic: bool):
        for j, (W, b) in enumerate(self.layers):
            x = dy.affine_transform([b, W, x])
            if j < len(self.layers) - 1:
                x = dy.rectify(x)
                if stochastic and self.p > 0:
                    x = dy.dropout(x, self.p)
        return x

    def probs(self, rows: np.ndarray, stochastic: bool) -> np.ndarray:
        dy.renew_cg()
        return batch_values(dy.softmax(self.logits(batch_input(rows), stochastic)))

    def mc_probs(self, rows: np.ndarray, passes: int) -> np.ndarray:
        """(T, N, classes): one softmax per stochastic pass."""
        return np.stack([self.probs(rows, True) for _ in range(passes)])


def train(net: DropoutMLP, trainer, x, y, epochs, batch_size, rng, quiet=False, desc="train") -> list[float]:
    curve = []
    for _ in progress(range(epochs), desc, quiet):
        total = 0.0
        for idx in minibatches(len(x), batch_size, rng):
            dy.renew_cg()
            loss = dy.mean_batches(dy.pickneglogsoftmax_batch(net.logits(batch_input(x[idx]), True),
                                                              [int(t) for t in y[idx]]))
            total += loss.value() * len(idx)
            loss.backward()
            trainer.update()
        curve.append(total / len(x))
    return curve


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(np.mean(pred[sel] == y[sel]) - np.mean(conf[sel]))
    return float(ece)


def scores(probs: np.ndarray, y: np.ndarray) -> dict:
    return {"accuracy": float(np.mean(probs.argmax(axis=1) == y)),
            "NLL": float(-np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12))),
            "ECE": expected_calibration_error(probs, y)}


def reliability_plot(named_probs: dict, y: np.ndarray, path: Path, bins: int = 10):
    if not have_matplotlib():
        return None
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for name, probs in named_probs.items():
        conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
        which = np.minimum((conf * bins).astype(int), bins - 1)
        xs = [conf[which == b].mean() for b in range(bins) if (which == b).sum() >= 5]
        ys = [correct[which == b].mean() for b in range(bins) if (which == b).sum() >= 5]
        ax.plot(xs, ys, "o-", ms=3, label=name)
    ax.set_xlabel("confidence"), ax.set_ylabel("accuracy"), ax.legend(fontsize=7)
    return save_figure(fig, path)


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--passes", type=int, default=50, help="T stochastic passes")
    p.add_argument("--train-fraction", type=float, default=1.0, help="use this much of the training split")
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    x_train, y_train, x_test, y_test = load_digits()
    n = int(args.train_fraction * len(x_train))
    x_train, y_train = x_train[:n], y_train[:n]
    pc_mc, pc_plain = dy.ParameterCollection(), dy.ParameterCollection()
    mc_net = DropoutMLP(pc_mc, n_hidden=args.hidden, p=args.dropout)
    plain = DropoutMLP(pc_plain, n_hidden=args.hidden, p=0.0)
    train(mc_net, dy.AdamTrainer(pc_mc, args.lr), x_train, y_train, args.epochs, args.batch_size, rng, args.quiet, "dropout net")
    train(plain, dy.AdamTrainer(pc_plain, args.lr), x_train, y_train, args.epochs, args.batch_size, rng, args.quiet, "plain net")
    mc = mc_net.mc_probs(x_test, args.passes)
    named = {f"MC dropout (T={args.passes})": mc.mean(axis=0),
             "same weights, dropout off": mc_net.probs(x_test, False),
             "net trained without dropout": plain.probs(x_test, False)}
    rows = [("training images", n)]
    for name, probs in named.items():
        s = scores(probs, y_test)
        rows.append((name, f"acc {s['accuracy']:.4f}  NLL {s['NLL']:.4f}  ECE {s['ECE']:.4f}"))
    pred = named[f"MC dropout (T={args.passes})"].argmax(axis=1)
    var = mc[:, np.arange(len(pred)), pred].var(axis=0)                       # variance of p(predicted class)
    wrong = pred != y_test
    rows.append(("MC predictive variance, correct / wrong",
                 f"{var[~wrong].mean():.4f} / {var[wrong].mean() if wrong.any() else float('nan'):.4f}"))
    rows.append(("figure", reliability_plot(named, y_test, args.out / "mc_dropout_reliability.png")))
    print_report("MC dropout on 8x8 digits (test split)", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
