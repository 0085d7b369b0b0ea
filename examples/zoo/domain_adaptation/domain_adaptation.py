"""Adversarial domain adaptation by gradient reversal (DANN; Ganin & Lempitsky, 2015) on two moons.

Source domain: scikit-learn's two moons, labelled. Target domain: the same moons
rotated by an angle, unlabelled during training. A feature extractor F feeds a
label classifier C (trained on source labels) and a domain classifier D that tells
source from target features. D sees the features through ``dy.scale_gradient(f, -lambda)``
(``dy.flip_gradient`` for lambda = 1): on the way forward the features pass unchanged;
on the way back D's gradient reaches F negated, so F learns features D cannot
separate — features in which the two domains line up — while C keeps them useful
for the labels.

As in the paper, the reversal's weight ramps from 0 to lambda over training
(2 / (1 + exp(-10 p)) - 1 at progress p), so D is informative before F follows it.
Reported: source and target-domain accuracy of the same network trained with and
without the reversal layer (lambda = 0 drops the domain term), over several seeds.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import (base_parser, batch_input, batch_values, print_report, progress, seed_everything,  # noqa: E402
                        sklearn, softplus)


def moons(n: int, rng, angle_deg: float = 0.0, noise: float = 0.1):
    """Two moons (n, 2) centred at the origin, rotated by angle_deg, and their labels."""
    x, y = sklearn("datasets").make_moons(n, noise=noise, random_state=int(rng.integers(1 << 31)))
    x = x - np.array([0.5, 0.25])
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (x @ rot.T).astype(np.float32), y.astype(np.int64)


class DANN:
    def __init__(self, pc, n_hidden: int = 32, reversal: float = 1.0):
        self.reversal = reversal
        self.ramp = 1.0   # the paper's schedule scales the reversal from 0 up to 1 over training
        dense = lambda o, i: (pc.add_parameters((o, i)), pc.add_parameters(o, init=0.0))  # noqa: E731
        self.features = [dense(n_hidden, 2), dense(n_hidden, n_hidden)]
        self.label = dense(2, n_hidden)
        self.domain = [dense(n_hidden, n_hidden), dense(1, n_hidden)]

    @staticmethod
    def _affine(layer, x):
        return dy.affine_transform([layer[1], layer[0], x])

    def feature(self, x):
        for layer in self.features:
            x = dy.rectify(self._affine(layer, x))
        return x

    def domain_logit(self, f):
        """D's logit for 'target', reached through the reversal layer."""
        weight = self.reversal * self.ramp
        h = dy.flip_gradient(f) if weight == 1.0 else dy.scale_gradient(f, -weight)
        return self._affine(self.domain[1], dy.rectify(self._affine(self.domain[0], h)))

    def loss(self, xs: np.ndarray, ys: np.ndarray, xt: np.ndarray):
        fs = self.feature(batch_input(xs))
        task = dy.mean_batches(dy.pickneglogsoftmax_batch(self._affine(self.label, fs), ys.tolist()))
        if not self.reversal:
            return task
        ft = self.feature(batch_input(xt))
        domain = (dy.mean_batches(softplus(self.domain_logit(fs)))          # -log(1 - D) on source
                  + dy.mean_batches(softplus(-self.domain_logit(ft))))      # -log D on target
        return task + domain

    def predict(self, x: np.ndarray) -> np.ndarray:
        dy.renew_cg()
        return batch_values(self._affine(self.label, self.feature(batch_input(x)))).argmax(axis=1)


def train(model: DANN, trainer, xs, ys, xt, steps: int, batch_size: int, rng, quiet=False) -> None:
    for step in progress(range(steps), f"reversal {model.reversal}", quiet):
        model.ramp = 2.0 / (1.0 + np.exp(-10.0 * step / steps)) - 1.0
        i = rng.integers(0, len(xs), batch_size)
        j = rng.integers(0, len(xt), batch_size)
        dy.renew_cg()
        model.loss(xs[i], ys[i], xt[j]).backward()
        trainer.update()


def run(seed: int, reversal: float, args) -> dict:
    rng = seed_everything(seed)
    xs, ys = moons(args.n, rng)
    xt, yt = moons(args.n, rng, args.angle)
    xt_test, yt_test = moons(args.n, rng, args.angle)
    pc = dy.ParameterCollection()
    model = DANN(pc, args.hidden, reversal)
    train(model, dy.AdamTrainer(pc, args.lr), xs, ys, xt, args.steps, args.batch_size, rng, args.quiet)
    return dict(source=float(np.mean(model.predict(xs) == ys)),
                target=float(np.mean(model.predict(xt_test) == yt_test)))


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--angle", type=float, default=35.0, help="rotation of the target domain, degrees")
    p.add_argument("--n", type=int, default=500, help="points per domain")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--reversal", type=float, default=1.0, help="lambda of the reversal layer")
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    rows, results = [("target domain", f"moons rotated {args.angle} degrees")], {}
    for reversal in (args.reversal, 0.0):
        runs = [run(s, reversal, args) for s in range(args.seed, args.seed + args.seeds)]
        results[reversal] = runs
        name = f"reversal lambda={reversal}" if reversal else "no reversal (source only)"
        for key, label in (("source", "source accuracy"), ("target", "target accuracy")):
            vals = [r[key] for r in runs]
            rows.append((f"{name}: {label}", f"{np.mean(vals):.3f}  ({', '.join(f'{v:.3f}' for v in vals)})"))
    print_report(f"Gradient-reversal domain adaptation, {args.seeds} seeds", rows)
    return results


if __name__ == "__main__":
    main()
