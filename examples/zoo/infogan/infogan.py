"""InfoGAN (Chen et al., 2016): a GAN whose generator also takes a categorical code c and is
rewarded for making c recoverable from its output, on the 8-Gaussian ring of ``gan/gan.py``.

The generator sees ``[z; onehot(c)]`` with c uniform over 8 values. An auxiliary
network Q predicts c from a sample; both G and Q minimise lambda * CE(Q(G(z, c)), c),
a variational lower bound on the mutual information I(c; G(z, c)) (up to the
constant entropy H(c)). The ring's known answer: the 8 modes are the data's
discrete factor of variation, so a code that captures it sends each value of c to
its own mode.

Reported, for lambda > 0 and for lambda = 0 (the same network, the code ignored by
the loss): modes covered, and code purity — for each code value, the fraction of
its samples in its most common mode, averaged over codes — and how many distinct
modes the 8 codes pick (8 = a one-to-one code).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from gan.gan import MLP, mode_coverage, ring_modes, sample_ring  # noqa: E402
from zoo_common import base_parser, batch_input, batch_values, print_report, progress, seed_everything, softplus  # noqa: E402,E501


class InfoGAN:
    def __init__(self, n_codes: int = 8, n_noise: int = 4, n_hidden: int = 128, lr: float = 1e-3,
                 info_weight: float = 1.0):
        self.n_codes, self.n_noise, self.info_weight = n_codes, n_noise, info_weight
        self.G, self.D, self.Q = MLP(n_noise + n_codes, n_hidden, 2), MLP(2, n_hidden, 1), MLP(2, n_hidden, n_codes)
        self.g_trainer = dy.AdamTrainer(self.G.pc, lr, 0.5, 0.999)
        self.d_trainer = dy.AdamTrainer(self.D.pc, lr, 0.5, 0.999)
        self.q_trainer = dy.AdamTrainer(self.Q.pc, lr, 0.5, 0.999)

    def fake(self, codes: np.ndarray):
        """G([z; onehot(c)]) for the given codes, as (2,) x len(codes)."""
        onehot = np.zeros((len(codes), self.n_codes), dtype=np.float32)
        onehot[np.arange(len(codes)), codes] = 1.0
        z = dy.random_normal(self.n_noise, batch_size=len(codes))
        return self.G(dy.concatenate([z, batch_input(onehot)]))

    def generate(self, codes: np.ndarray) -> np.ndarray:
        dy.renew_cg()
        return batch_values(self.fake(codes))

    def d_step(self, real: np.ndarray, rng) -> float:
        fake = self.generate(rng.integers(0, self.n_codes, len(real)))
        dy.renew_cg()
        loss = (dy.mean_batches(softplus(-self.D(batch_input(real))))
                + dy.mean_batches(softplus(self.D(batch_input(fake)))))
        value = loss.value()
        loss.backward()
        self.d_trainer.update()
        return value

    def g_q_step(self, n: int, rng) -> tuple[float, float]:
        """One update of G (non-saturating loss + info term) and of Q (info term); returns both terms."""
        codes = rng.integers(0, self.n_codes, n)
        dy.renew_cg()
        x = self.fake(codes)
        adversarial = dy.mean_batches(softplus(-self.D(x, const=True)))
        info = dy.mean_batches(dy.pickneglogsoftmax_batch(self.Q(x), codes.tolist()))
        loss = adversarial + info * self.info_weight if self.info_weight else adversarial
        values = adversarial.value(), info.value()
        loss.backward()
        self.g_trainer.update()
        if self.info_weight:
            self.q_trainer.update()
        return values


def train(model: InfoGAN, steps: int, batch_size: int, rng, quiet: bool = False) -> list[float]:
    """Alternating D and G/Q updates; returns the info term (Q's cross-entropy) per step."""
    info = []
    for _ in progress(range(steps), f"infogan lambda={model.info_weight}", quiet):
        model.d_step(sample_ring(batch_size, rng), rng)
        info.append(model.g_q_step(batch_size, rng)[1])
    return info


def code_purity(model: InfoGAN, per_code: int = 250) -> tuple[float, int]:
    """(mean over codes of the share of its samples in its most common mode, distinct modes chosen)."""
    modes = ring_modes(8)
    purity, chosen = [], set()
    for c in range(model.n_codes):
        samples = model.generate(np.full(per_code, c))
        nearest = np.linalg.norm(samples[:, None] - modes[None], axis=2).argmin(axis=1)
        counts = np.bincount(nearest, minlength=len(modes))
        purity.append(counts.max() / per_code)
        chosen.add(int(counts.argmax()))
    return float(np.mean(purity)), len(chosen)


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--info-weight", type=float, default=1.0, help="lambda of the mutual-information term")
    args = p.parse_args(argv)
    rows, results = [], {}
    for weight in (args.info_weight, 0.0):
        rng = seed_everything(args.seed)
        model = InfoGAN(n_hidden=args.hidden, lr=args.lr, info_weight=weight)
        info = train(model, args.steps, args.batch_size, rng, args.quiet)
        covered, quality, _ = mode_coverage(model.generate(rng.integers(0, 8, 2000)))
        purity, distinct = code_purity(model)
        results[weight] = dict(covered=covered, purity=purity, distinct=distinct)
        rows += [(f"lambda={weight}: modes covered / high-quality samples", f"{covered}/8 / {quality:.3f}"),
                 (f"lambda={weight}: code purity / distinct modes of the 8 codes", f"{purity:.3f} / {distinct}")]
        if weight:
            rows.append((f"lambda={weight}: Q cross-entropy, first / last 100 steps (log 8 = 2.079)",
                         f"{np.mean(info[:100]):.3f} / {np.mean(info[-100:]):.3f}"))
    print_report(f"InfoGAN on 8 Gaussians on a ring ({args.steps} steps)", rows)
    return results


if __name__ == "__main__":
    main()
