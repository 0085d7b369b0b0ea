"""Variational autoencoder (Kingma & Welling, 2014) on binarised 8x8 digits.

Encoder ``x -> tanh -> (mean, logvar)`` of a diagonal Gaussian q(z|x); decoder
``z -> tanh -> logits`` of independent Bernoulli pixels p(x|z); prior N(0, I).
The reparameterisation trick draws ``z = mean + exp(logvar / 2) * eps`` with
``eps = dy.random_normal(...)``, so the one-sample ELBO

    ELBO(x) = log p(x | z) - KL(q(z|x) || N(0, I)),
    KL = 1/2 sum(mean^2 + exp(logvar) - 1 - logvar),

is differentiable in the encoder's weights. Reported: train/test ELBO per image
(nats) and a K-sample importance estimate of log p(x) on the test set — on the
same binarised data as the RBM, DBN and SBN programs, so the numbers compare.
Reconstructions and samples go to a PNG grid.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import (base_parser, batch_input, batch_values, load_digits, minibatches,  # noqa: E402
                        print_report, progress, save_image_grid, seed_everything, softplus)

LOG_2PI = float(np.log(2 * np.pi))


class VAE:
    def __init__(self, pc: dy.ParameterCollection, n_in: int = 64, n_hidden: int = 128, n_latent: int = 8):
        self.n_in, self.n_latent = n_in, n_latent
        self.enc = (pc.add_parameters((n_hidden, n_in)), pc.add_parameters(n_hidden, init=0.0))
        self.enc_mean = (pc.add_parameters((n_latent, n_hidden)), pc.add_parameters(n_latent, init=0.0))
        self.enc_logvar = (pc.add_parameters((n_latent, n_hidden)), pc.add_parameters(n_latent, init=0.0))
        self.dec = (pc.add_parameters((n_hidden, n_latent)), pc.add_parameters(n_hidden, init=0.0))
        self.dec_out = (pc.add_parameters((n_in, n_hidden)), pc.add_parameters(n_in, init=0.0))

    @staticmethod
    def _affine(wb, x):
        return dy.affine_transform([wb[1], wb[0], x])

    def encode(self, x):
        """(mean, logvar) of q(z | x), each (n_latent,) x B."""
        h = dy.tanh(self._affine(self.enc, x))
        return self._affine(self.enc_mean, h), self._affine(self.enc_logvar, h)

    def decode(self, z):
        """Pixel logits (n_in,) x B."""
        return self._affine(self.dec_out, dy.tanh(self._affine(self.dec, z)))

    def sample_z(self, mean, logvar, batch_size: int):
        """The reparameterisation trick: mean + exp(logvar / 2) * eps, eps ~ N(0, I)."""
        eps = dy.random_normal(self.n_latent, batch_size=batch_size)
        return mean + dy.cmult(dy.exp(logvar * 0.5), eps)

    @staticmethod
    def kl(mean, logvar):
        """KL(N(mean, exp(logvar)) || N(0, I)) as (1,) x B."""
        return 0.5 * dy.sum_elems(dy.square(mean) + dy.exp(logvar) - 1.0 - logvar)

    @staticmethod
    def log_lik(x, logits):
        """log p(x | z) for Bernoulli pixels: sum x * a - softplus(a), (1,) x B."""
        return dy.sum_elems(dy.cmult(x, logits) - softplus(logits))

    def elbo(self, rows: np.ndarray):
        """One-sample ELBO per row as (1,) x B."""
        x = batch_input(rows)
        mean, logvar = self.encode(x)
        z = self.sample_z(mean, logvar, len(rows))
        return self.log_lik(x, self.decode(z)) - self.kl(mean, logvar)

    def log_weight(self, x, mean, logvar, batch_size: int):
        """One draw z ~ q(z|x): log p(x|z) + log p(z) - log q(z|x) as (1,) x B."""
        eps = dy.random_normal(self.n_latent, batch_size=batch_size)
        z = mean + dy.cmult(dy.exp(logvar * 0.5), eps)
        log_prior = -0.5 * dy.sum_elems(dy.square(z)) - 0.5 * self.n_latent * LOG_2PI
        # q's density at z: eps is the standardised draw, so (z - mean)^2 / var = eps^2.
        log_q = -0.5 * dy.sum_elems(dy.square(eps) + logvar) - 0.5 * self.n_latent * LOG_2PI
        return self.log_lik(x, self.decode(z)) + log_prior - log_q

    def log_weights(self, rows: np.ndarray, k: int) -> np.ndarray:
        """log p(x, z) - log q(z | x) for k draws z ~ q(z|x) per row: (N, k)."""
        dy.renew_cg()
        x = batch_input(np.repeat(rows, k, axis=0))
        mean, logvar = self.encode(x)
        return batch_values(self.log_weight(x, mean, logvar, len(rows) * k)).reshape(len(rows), k)

    def mean_elbo(self, rows: np.ndarray, chunk: int = 500) -> float:
        total = 0.0
        for i in range(0, len(rows), chunk):
            dy.renew_cg()
            total += float(dy.sum_batches(self.elbo(rows[i:i + chunk])).value())
        return total / len(rows)

    def importance_log_p(self, rows: np.ndarray, k: int = 100, chunk: int = 50) -> float:
        lw = np.concatenate([self.log_weights(rows[i:i + chunk], k) for i in range(0, len(rows), chunk)])
        return float(np.mean(np.logaddexp.reduce(lw, axis=1) - np.log(k)))

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """Decoder means at the posterior means."""
        dy.renew_cg()
        mean, _ = self.encode(batch_input(rows))
        return batch_values(dy.logistic(self.decode(mean)))

    def generate(self, n: int) -> np.ndarray:
        """Decoder means for z ~ N(0, I)."""
        dy.renew_cg()
        return batch_values(dy.logistic(self.decode(dy.random_normal(self.n_latent, batch_size=n))))


def train(vae: VAE, trainer, x, epochs: int, batch_size: int, rng, quiet=False) -> list[float]:
    """Maximises the ELBO; returns the mean training ELBO of each epoch."""
    curve = []
    for _ in progress(range(epochs), "vae", quiet):
        total = 0.0
        for idx in minibatches(len(x), batch_size, rng):
            dy.renew_cg()
            loss = -dy.sum_batches(vae.elbo(x[idx])) * (1.0 / len(idx))
            total -= loss.value() * len(idx)
            loss.backward()
            trainer.update()
        curve.append(total / len(x))
    return curve


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--k", type=int, default=500, help="importance samples for the log p(x) estimate")
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    x_train, _, x_test, _ = load_digits(binarize=True)
    pc = dy.ParameterCollection()
    vae = VAE(pc, 64, args.hidden, args.latent)
    curve = train(vae, dy.AdamTrainer(pc, args.lr), x_train, args.epochs, args.batch_size, rng, args.quiet)
    png = save_image_grid([x_test[:12], vae.reconstruct(x_test[:12]), vae.generate(12), vae.generate(12)],
                          args.out / "vae_grid.png", ["test data", "reconstructions", "samples", "samples"])
    rows = [("latent / hidden", f"{args.latent} / {args.hidden}"),
            ("train ELBO, first/last epoch", f"{curve[0]:.3f} / {curve[-1]:.3f}"),
            ("test ELBO", vae.mean_elbo(x_test)),
            (f"test log p(x), importance K={args.k}", vae.importance_log_p(x_test, args.k)),
            ("figure", png)]
    print_report("VAE on binarised 8x8 digits (nats per image)", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
