"""Importance-weighted autoencoder (Burda, Grosse & Salakhutdinov, 2016) beside the VAE.

The same encoder and decoder as ``vae/vae.py``. For k draws z_1..z_k ~ q(z|x)
with log weights ``log w_j = log p(x|z_j) + log p(z_j) - log q(z_j|x)`` the
k-sample bound is

    L_k(x) = log (1/k) sum_j w_j  <=  log p(x),

and E[L_1] is the VAE's ELBO, E[L_k] rises with k towards log p(x). Training
on L_k (k > 1) weights each draw's gradient by its normalised importance
weight instead of averaging them. The program trains one model on the ELBO
(k = 1) and one on L_k, and reports, for both, the test bound L_j for several j
(the bound tightens with j) and an importance estimate of log p(x).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from vae.vae import VAE                                # noqa: E402
from zoo_common import (train_epochs, base_parser, batch_input, load_digits,  # noqa: E402
                        print_report, seed_everything)


class IWAE(VAE):
    """A VAE whose training objective and reported bound are the k-sample L_k (draws: VAE.log_weight)."""

    def bound(self, rows: np.ndarray, k: int):
        """L_k per row as (1,) x B: log of the mean of k importance weights."""
        x = batch_input(rows)
        mean, logvar = self.encode(x)
        log_w = [self.log_weight(x, mean, logvar, len(rows)) for _ in range(k)]
        return dy.logsumexp(log_w) - float(np.log(k)) if k > 1 else log_w[0]

    def mean_bound(self, rows: np.ndarray, k: int, chunk: int = 400) -> float:
        """The data set's mean L_k (one draw of the k samples per row)."""
        total = 0.0
        for i in range(0, len(rows), chunk):
            dy.renew_cg()
            total += float(dy.sum_batches(self.bound(rows[i:i + chunk], k)).value())
        return total / len(rows)


def train(model: IWAE, trainer, x, k: int, epochs: int, batch_size: int, rng, quiet=False) -> list[float]:
    """Maximises L_k (k = 1: the VAE's one-sample objective); returns each epoch's mean training L_k."""
    neg = train_epochs(lambda idx: -dy.sum_batches(model.bound(x[idx], k)) * (1.0 / len(idx)), trainer, len(x),
                       epochs, batch_size, rng, quiet, f"iwae k={k}")
    return [-v for v in neg]


def tightening(model: IWAE, rows: np.ndarray, ks=(1, 5, 50), repeats: int = 3) -> dict[int, float]:
    """Mean test L_k for each k, averaged over a few independent draws."""
    return {k: float(np.mean([model.mean_bound(rows, k) for _ in range(repeats)])) for k in ks}


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--k", type=int, default=5, help="samples in the IWAE training bound")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-k", type=int, default=500, help="importance samples for the log p(x) estimate")
    args = p.parse_args(argv)
    x_train, _, x_test, _ = load_digits(binarize=True)
    rows = [("latent / hidden / epochs", f"{args.latent} / {args.hidden} / {args.epochs}")]
    results = {}
    for train_k in (1, args.k):
        rng = seed_everything(args.seed)
        pc = dy.ParameterCollection()
        model = IWAE(pc, 64, args.hidden, args.latent)
        train(model, dy.AdamTrainer(pc, args.lr), x_train, train_k, args.epochs, args.batch_size, rng, args.quiet)
        name = "VAE (k=1)" if train_k == 1 else f"IWAE (k={train_k})"
        bounds = tightening(model, x_test)
        results[name] = dict(bounds=bounds, log_p=model.importance_log_p(x_test, args.eval_k))
        rows.append((f"{name}: test L_1 / L_5 / L_50",
                     " / ".join(f"{bounds[k]:.3f}" for k in sorted(bounds))))
        rows.append((f"{name}: test log p(x), K={args.eval_k}", results[name]["log_p"]))
    print_report("IWAE vs VAE on binarised 8x8 digits (nats per image)", rows)
    return results


if __name__ == "__main__":
    main()
