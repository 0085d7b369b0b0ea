"""Sigmoid belief network trained with the wake-sleep algorithm (Hinton, Dayan, Frey & Neal, 1995).

Generative model, top to bottom: ``p(h_L) = prod sigmoid(a)``, then
``p(h_{l-1} | h_l) = Bernoulli(sigmoid(G_l h_l + g_l))`` down to the pixels v = h_0.
A recognition network ``q(h_l | h_{l-1}) = Bernoulli(sigmoid(R_l h_{l-1} + r_l))``
goes the other way.

* wake: sample h ~ q(h | v) for real v; raise log p(v, h) (generative weights);
* sleep: dream (h, v) ~ p; raise log q(h | v) (recognition weights).

Reported over training: the variational bound E_q[log p(v, h) - log q(h | v)]
on held-out digits and an importance-sampling estimate of log p(v) with q as the
proposal (K samples; it is a tighter bound that tends to log p(v) as K grows).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import (base_parser, batch_input, batch_values, load_digits, minibatches,  # noqa: E402
                        print_report, progress, save_image_grid, seed_everything, softplus)


def bernoulli_log_prob(x: np.ndarray, logits):
    """sum_i log Bernoulli(x_i; sigmoid(logits_i)) = sum x.a - softplus(a), for rows x: (1,) x B."""
    return dy.sum_elems(dy.cmult(batch_input(x), logits) - softplus(logits))


class SBN:
    """``SBN(sizes)``, sizes = [pixels, h1, ..., hL]; generative and recognition weights in two collections."""

    def __init__(self, sizes: list[int]):
        self.sizes = sizes
        self.pc_gen, self.pc_rec = dy.ParameterCollection(), dy.ParameterCollection()
        self.prior = self.pc_gen.add_parameters(sizes[-1], init=0.0)
        self.gen = [(self.pc_gen.add_parameters((lo, hi)), self.pc_gen.add_parameters(lo, init=0.0))
                    for lo, hi in zip(sizes[:-1], sizes[1:])]             # gen[l]: h_{l+1} -> h_l
        self.rec = [(self.pc_rec.add_parameters((hi, lo)), self.pc_rec.add_parameters(hi, init=0.0))
                    for lo, hi in zip(sizes[:-1], sizes[1:])]             # rec[l]: h_l -> h_{l+1}

    @staticmethod
    def _sample(probs_expr, rng) -> np.ndarray:
        p = batch_values(probs_expr)
        return (rng.random(p.shape) < p).astype(np.float32)

    def recognise(self, v: np.ndarray, rng) -> list[np.ndarray]:
        """[v, h1, ..., hL] with each h_l ~ q(h_l | h_{l-1})."""
        layers = [v]
        for R, r in self.rec:
            layers.append(self._sample(dy.logistic(R * batch_input(layers[-1]) + r), rng))
        return layers

    def dream(self, n: int, rng) -> list[np.ndarray]:
        """[v, h1, ..., hL] sampled top-down from the generative model."""
        p_top = batch_values(dy.logistic(dy.parameter(self.prior)))                   # (1, H_L)
        layers = [(rng.random((n, p_top.shape[1])) < p_top).astype(np.float32)]
        for G, g in reversed(self.gen):
            layers.insert(0, self._sample(dy.logistic(G * batch_input(layers[0]) + g), rng))
        return layers

    def log_joint(self, layers):
        """log p(v, h1, ..., hL) as (1,) x B."""
        total = bernoulli_log_prob(layers[-1], dy.parameter(self.prior))               # prior broadcast over B
        for l, (G, g) in enumerate(self.gen):
            total = total + bernoulli_log_prob(layers[l], G * batch_input(layers[l + 1]) + g)
        return total

    def log_q(self, layers):
        """log q(h1, ..., hL | v) as (1,) x B."""
        total = None
        for l, (R, r) in enumerate(self.rec):
            term = bernoulli_log_prob(layers[l + 1], R * batch_input(layers[l]) + r)
            total = term if total is None else total + term
        return total

    def wake_sleep_step(self, v: np.ndarray, gen_trainer, rec_trainer, rng) -> None:
        dy.renew_cg()
        (-dy.mean_batches(self.log_joint(self.recognise(v, rng)))).backward()
        gen_trainer.update()
        dy.renew_cg()
        (-dy.mean_batches(self.log_q(self.dream(len(v), rng)))).backward()
        rec_trainer.update()

    def log_weights(self, v: np.ndarray, k: int, rng) -> np.ndarray:
        """log p(v, h) - log q(h | v) for k samples h ~ q per row of v: shape (N, k)."""
        dy.renew_cg()
        layers = self.recognise(np.repeat(v, k, axis=0), rng)
        w = self.log_joint(layers) - self.log_q(layers)
        return batch_values(w).reshape(len(v), k)

    def evaluate(self, v: np.ndarray, k: int, rng, chunk: int = 100) -> tuple[float, float]:
        """(mean variational bound, mean K-sample importance estimate of log p(v)) over rows v."""
        lw = np.concatenate([self.log_weights(v[i:i + chunk], k, rng) for i in range(0, len(v), chunk)])
        iw = np.logaddexp.reduce(lw, axis=1) - np.log(k)
        return float(lw.mean()), float(iw.mean())


def train(sbn: SBN, x, epochs, batch_size, lr, rng, x_eval=None, eval_every=10, k=100, quiet=False):
    gen_trainer, rec_trainer = dy.AdamTrainer(sbn.pc_gen, lr), dy.AdamTrainer(sbn.pc_rec, lr)
    curve = []
    for epoch in progress(range(1, epochs + 1), "wake-sleep", quiet):
        for idx in minibatches(len(x), batch_size, rng):
            sbn.wake_sleep_step(x[idx], gen_trainer, rec_trainer, rng)
        if x_eval is not None and (epoch % eval_every == 0 or epoch == 1):
            curve.append((epoch, *sbn.evaluate(x_eval, k, rng)))
    return curve


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 32, 16], help="pixels, then hidden layers")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--k", type=int, default=100, help="importance samples for the log p(v) estimate")
    p.add_argument("--eval-every", type=int, default=10)
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    x_train, _, x_test, _ = load_digits(binarize=True)
    sbn = SBN(args.sizes)
    curve = train(sbn, x_train, args.epochs, args.batch_size, args.lr, rng, x_test, args.eval_every, args.k,
                  args.quiet)
    print("\n epoch  test bound  test log p(v) (IS, K=%d)" % args.k)
    for epoch, bound, iw in curve:
        print(f"{epoch:6d}  {bound:10.3f}  {iw:10.3f}")
    dy.renew_cg()
    png = save_image_grid([sbn.dream(12, rng)[0]], args.out / "sbn_samples.png", ["SBN dreams"])
    rows = [("layers", " -> ".join(map(str, args.sizes))), ("test bound, first eval", curve[0][1]),
            ("test bound, last eval", curve[-1][1]), (f"test log p(v) IS estimate K={args.k}", curve[-1][2]),
            ("figure", png)]
    print_report("Sigmoid belief network, wake-sleep, binarised 8x8 digits", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
