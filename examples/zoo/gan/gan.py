"""GAN (Goodfellow et al., 2014) on a 2-D mixture of 8 Gaussians on a ring, minimax vs non-saturating.

The discriminator D (an MLP giving a logit l) minimises
``softplus(-l(x_real)) + softplus(l(G(z)))``, i.e. -log D(x) - log(1 - D(G(z))).
The generator G minimises either

* minimax:        log(1 - D(G(z))) = -softplus(l(G(z)))  (saturates when D wins), or
* non-saturating: -log D(G(z))     =  softplus(-l(G(z))).

For one sample both give gradients along the same direction; the ratio of the
minimax to the non-saturating gradient is D/(1-D) = exp(l), which vanishes early
in training when D rejects the fakes. Each network has its own parameter
collection and trainer; while updating G, D's weights enter the graph through
``dy.const_parameter`` so no gradient accumulates for them.

Reported: modes covered (a mode counts when at least 1% of samples lie within
3 standard deviations of it), the fraction of such high-quality samples, and a
scatter PNG for both losses.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import (base_parser, batch_input, batch_values, have_matplotlib, print_report,  # noqa: E402
                        progress, save_figure, seed_everything, softplus)


def ring_modes(n_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_ring(n: int, rng, std: float = 0.05, n_modes: int = 8) -> np.ndarray:
    modes = ring_modes(n_modes)
    return modes[rng.integers(0, n_modes, n)] + std * rng.normal(size=(n, 2))


def mode_coverage(samples: np.ndarray, std: float = 0.05, n_modes: int = 8, min_fraction: float = 0.01):
    """(modes covered, fraction of samples within 3 std of some mode, per-mode counts)."""
    d = np.linalg.norm(samples[:, None, :] - ring_modes(n_modes)[None], axis=2)
    near = d.min(axis=1) < 3 * std
    counts = np.bincount(d.argmin(axis=1)[near], minlength=n_modes)
    return int(np.sum(counts >= min_fraction * len(samples))), float(near.mean()), counts


class MLP:
    """``in -> relu -> relu -> out`` with its own collection."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        self.pc = dy.ParameterCollection()
        dims = [n_in, n_hidden, n_hidden, n_out]
        self.layers = [(self.pc.add_parameters((o, i)), self.pc.add_parameters(o, init=0.0))
                       for i, o in zip(dims[:-1], dims[1:])]

    def __call__(self, x, const: bool = False):
        p = dy.const_parameter if const else dy.parameter
        for j, (W, b) in enumerate(self.layers):
            x = dy.affine_transform([p(b), p(W), x])
            if j < len(self.layers) - 1:
                x = dy.rectify(x)
        return x


class GAN:
    def __init__(self, n_noise: int = 8, n_hidden: int = 128, lr: float = 1e-3):
        self.n_noise = n_noise
        self.G, self.D = MLP(n_noise, n_hidden, 2), MLP(2, n_hidden, 1)
        self.g_trainer = dy.AdamTrainer(self.G.pc, lr, 0.5, 0.999)
        self.d_trainer = dy.AdamTrainer(self.D.pc, lr, 0.5, 0.999)

    def fake(self, n: int):
        return self.G(dy.random_normal(self.n_noise, batch_size=n))

    def generate(self, n: int) -> np.ndarray:
        dy.renew_cg()
        return batch_values(self.fake(n))

    def d_step(self, real: np.ndarray) -> float:
        fake = self.generate(len(real))                      # values only: no gradient reaches G
        dy.renew_cg()
        loss = dy.mean_batches(softplus(-self.D(batch_input(real)))) + dy.mean_batches(softplus(self.D(batch_input(fake))))
        value = loss.value()
        loss.backward()
        self.d_trainer.update()
        return value

    def g_loss(self, logits, kind: str):
        if kind == "minimax":
            return dy.mean_batches(-softplus(logits))
        if kind == "nonsaturating":
            return dy.mean_batches(softplus(-logits))
        raise ValueError(f"GAN: loss must be 'minimax' or 'nonsaturating', got {kind!r}")

    def g_step(self, n: int, kind: str) -> float:
        dy.renew_cg()
        loss = self.g_loss(self.D(self.fake(n), const=True), kind)
        value = loss.value()
        loss.backward()
        self.g_trainer.update()
        return value


def train(gan: GAN, kind: str, steps: int, batch_size: int, rng, quiet: bool = False, d_steps: int = 1):
    """Alternating updates; returns (d_losses, g_losses) per step."""
    d_hist, g_hist = [], []
    for _ in progress(range(steps), kind, quiet):
        for _ in range(d_steps):
            d_hist.append(gan.d_step(sample_ring(batch_size, rng)))
        g_hist.append(gan.g_step(batch_size, kind))
    return d_hist, g_hist


def scatter(results: dict, real: np.ndarray, path: Path):
    if not have_matplotlib():
        return None
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4), squeeze=False)
    for ax, (kind, (samples, covered)) in zip(axes[0], results.items()):
        ax.scatter(real[:, 0], real[:, 1], s=2, c="lightgray", label="data")
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.5, label="G(z)")
        ax.set_title(f"{kind}: {covered}/8 modes")
        ax.set_xlim(-3, 3), ax.set_ylim(-3, 3), ax.set_aspect("equal")
    axes[0][0].legend(loc="upper right", fontsize=7)
    return save_figure(fig, path)


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--losses", nargs="+", default=["minimax", "nonsaturating"])
    p.add_argument("--samples", type=int, default=2000, help="samples for the mode count")
    p.add_argument("--seeds", type=int, default=1, help="repeat with this many seeds and report each mode count")
    args = p.parse_args(argv)
    rows, results = [], {}
    for kind in args.losses:
        covered_all = []
        for seed in range(args.seed, args.seed + args.seeds):
            rng = seed_everything(seed)
            gan = GAN(n_hidden=args.hidden, lr=args.lr)
            d_hist, g_hist = train(gan, kind, args.steps, args.batch_size, rng, args.quiet)
            samples = gan.generate(args.samples)
            covered, quality, counts = mode_coverage(samples)
            covered_all.append(covered)
            if seed == args.seed:                                         # the first seed is the one plotted
                results[kind] = (samples, covered)
                rows += [(f"{kind}: modes covered (seed {seed})", f"{covered}/8  (per mode {counts.tolist()})"),
                         (f"{kind}: high-quality samples", quality),
                         (f"{kind}: final D loss / G loss",
                          f"{np.mean(d_hist[-100:]):.3f} / {np.mean(g_hist[-100:]):.3f}")]
        if args.seeds > 1:
            rows.append((f"{kind}: modes covered, seeds {args.seed}..{args.seed + args.seeds - 1}",
                         f"{covered_all}  mean {np.mean(covered_all):.2f}"))
    rows.append(("figure", scatter(results, sample_ring(2000, np.random.default_rng(0)), args.out / "gan_ring.png")))
    print_report(f"GAN on 8 Gaussians on a ring ({args.steps} steps)", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
