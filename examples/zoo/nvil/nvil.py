"""Score-function gradients with control variates (NVIL; Mnih & Gregor, 2014) beside the
reparameterised gradient, on the VAE of ``vae/vae.py``.

The encoder's gradient of the expected log-likelihood E_q[f(z)], f(z) = log p(x|z),
can be estimated two ways from draws z ~ q(z|x):

* reparameterised: z = mean + sigma * eps, differentiate f through z;
* score function (REINFORCE): (f(z) - b) * d/dphi log q(z|x), with z held fixed.
  Any baseline b that does not depend on z keeps it unbiased; NVIL's control
  variates are a running mean c and an input-dependent baseline b(x) (a small net
  regressed onto f - c); NVIL also divides the centred signal by its running
  standard deviation (``--normalise``), a step-size rule that Adam already covers.

The KL term is analytic in every case, so all estimators target the same
gradient. The program trains a VAE briefly, then at those fixed weights draws
many single-sample gradients of the encoder's mean layer with each estimator
and reports their mean (unbiasedness) and variance; it also trains a fresh VAE
with each estimator and reports the test ELBO reached.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from vae.vae import VAE, train as train_reparam                # noqa: E402
from zoo_common import (base_parser, batch_input, batch_values, load_digits, minibatches,  # noqa: E402
                        print_report, progress, seed_everything)


class Baseline:
    """NVIL's control variates: running mean c and variance v of the signal, and b(x) = MLP(x)."""

    def __init__(self, pc: dy.ParameterCollection, n_in: int, n_hidden: int = 32, decay: float = 0.9,
                 normalise: bool = False):
        self.hidden = (pc.add_parameters((n_hidden, n_in)), pc.add_parameters(n_hidden, init=0.0))
        self.out = (pc.add_parameters((1, n_hidden)), pc.add_parameters(1, init=0.0))
        self.c, self.v, self.decay = 0.0, 1.0, decay
        # Training adapts c and v (and, normalising, divides the signal by sqrt(v): a step size);
        # frozen, only the centring remains, so the estimate stays that of the true gradient.
        self.frozen = False
        self.normalise = normalise

    def __call__(self, x):
        h = dy.tanh(dy.affine_transform([self.hidden[1], self.hidden[0], x]))
        return dy.affine_transform([self.out[1], self.out[0], h])

    def observe(self, centred: np.ndarray, signal: np.ndarray) -> None:
        """Updates the running mean of the raw signal and the running variance of the centred one."""
        self.c = self.decay * self.c + (1 - self.decay) * float(signal.mean())
        self.v = self.decay * self.v + (1 - self.decay) * float(centred.var())


def score_function_loss(vae: VAE, rows: np.ndarray, baseline: Baseline | None):
    """A surrogate whose gradient is the score-function estimate of -ELBO (summed over rows).

    Returns (surrogate, baseline_loss or None). z is sampled, then held constant
    (nobackprop), so only log q(z|x) carries the encoder's gradient.
    """
    x = batch_input(rows)
    mean, logvar = vae.encode(x)
    eps = dy.random_normal(vae.n_latent, batch_size=len(rows))
    z = dy.nobackprop(mean + dy.cmult(dy.exp(logvar * 0.5), eps))
    log_q = -0.5 * dy.sum_elems(dy.cdiv(dy.square(z - mean), dy.exp(logvar)) + logvar)
    log_lik = vae.log_lik(x, vae.decode(z))                 # decoder's gradient as usual
    signal = batch_values(log_lik)[:, 0]                     # f(z) per row, a constant below
    if baseline is None:
        weight, b_loss = signal, None
    else:
        b = baseline(x)
        centred = signal - baseline.c - batch_values(b)[:, 0]
        if baseline.frozen:
            weight = centred
        else:
            baseline.observe(centred, signal)
            weight = centred / max(np.sqrt(baseline.v), 1.0) if baseline.normalise else centred
        b_loss = dy.sum_batches(dy.square(b - dy.inputTensor(signal - baseline.c, batched=True)))
    w = dy.inputTensor(weight.astype(np.float32), batched=True)
    surrogate = -dy.sum_batches(dy.cmult(w, log_q) + log_lik - vae.kl(mean, logvar))
    return surrogate, b_loss


def reparam_loss(vae: VAE, rows: np.ndarray):
    return -dy.sum_batches(vae.elbo(rows))


def gradient_draws(vae: VAE, pc, rows: np.ndarray, estimator: str, draws: int,
                   baseline: Baseline | None = None) -> np.ndarray:
    """`draws` single-sample gradients of -ELBO w.r.t. the encoder's mean layer: (draws, n_latent * n_hidden)."""
    w_mean = vae.enc_mean[0]
    clear = dy.SimpleSGDTrainer(pc, learning_rate=0.0)   # update() with rate 0 only zeroes the gradients
    out = []
    for _ in range(draws):
        dy.renew_cg()
        clear.update()
        if estimator == "reparameterised":
            loss = reparam_loss(vae, rows)
        else:
            loss, _ = score_function_loss(vae, rows, baseline if estimator == "nvil" else None)
        loss.backward()
        out.append(w_mean.grad_as_array().ravel().copy())
    return np.array(out)


def fit_baseline(vae: VAE, baseline: Baseline, trainer, x, steps: int, batch_size: int, rng) -> None:
    """Trains b(x) (and the running statistics) at the VAE's current weights."""
    for _ in range(steps):
        idx = rng.choice(len(x), batch_size, replace=False)
        dy.renew_cg()
        _, b_loss = score_function_loss(vae, x[idx], baseline)
        b_loss.backward()
        trainer.update()


def variance_table(vae, pc, baseline, x, rng, draws: int, rows_per_draw: int) -> dict[str, dict]:
    """Mean per-element gradient variance of each estimator, and each mean's distance from reparam's."""
    rows = x[rng.choice(len(x), rows_per_draw, replace=False)]
    baseline.frozen = True
    grads = {name: gradient_draws(vae, pc, rows, name, draws, baseline)
             for name in ("reparameterised", "score function", "nvil")}
    ref = grads["reparameterised"].mean(axis=0)
    table = {}
    for name, g in grads.items():
        stderr = np.sqrt(g.var(axis=0) / draws + grads["reparameterised"].var(axis=0) / draws)
        table[name] = dict(variance=float(g.var(axis=0).mean()),
                           bias_z=float(np.sqrt(np.mean(((g.mean(axis=0) - ref) / np.maximum(stderr, 1e-12)) ** 2))))
    return table


def train_with(estimator: str, x_train, x_test, args) -> float:
    """Trains a fresh VAE with one estimator of the encoder's gradient; returns the test ELBO."""
    rng = seed_everything(args.seed)
    pc = dy.ParameterCollection()
    vae = VAE(pc, 64, args.hidden, args.latent)
    baseline = Baseline(pc, 64, normalise=args.normalise) if estimator == "nvil" else None
    trainer = dy.AdamTrainer(pc, args.lr)
    for _ in progress(range(args.epochs), estimator, args.quiet):
        for idx in minibatches(len(x_train), args.batch_size, rng):
            dy.renew_cg()
            if estimator == "reparameterised":
                loss = reparam_loss(vae, x_train[idx])
            else:
                loss, b_loss = score_function_loss(vae, x_train[idx], baseline)
                if b_loss is not None:
                    loss = loss + b_loss
            (loss * (1.0 / len(idx))).backward()
            trainer.update()
    return vae.mean_elbo(x_test)


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--pretrain-epochs", type=int, default=20, help="VAE training before the variance measurement")
    p.add_argument("--draws", type=int, default=300, help="gradient draws per estimator")
    p.add_argument("--rows", type=int, default=8, help="images per gradient draw")
    p.add_argument("--epochs", type=int, default=40, help="epochs of the training comparison (0: skip it)")
    p.add_argument("--normalise", action="store_true",
                   help="train NVIL dividing the centred signal by its running deviation (NVIL's step-size "
                        "normalisation; with Adam it trained worse here, see the README)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args(argv)
    x_train, _, x_test, _ = load_digits(binarize=True)
    rng = seed_everything(args.seed)
    pc = dy.ParameterCollection()
    vae = VAE(pc, 64, args.hidden, args.latent)
    train_reparam(vae, dy.AdamTrainer(pc, args.lr), x_train, args.pretrain_epochs, args.batch_size, rng, args.quiet)
    baseline = Baseline(pc, 64)
    fit_baseline(vae, baseline, dy.AdamTrainer(pc, 1e-2), x_train, 300, args.batch_size, rng)
    table = variance_table(vae, pc, baseline, x_train, rng, args.draws, args.rows)
    rows = [(f"{name}: gradient variance (mean per element)", t["variance"]) for name, t in table.items()]
    rows += [(f"{name}: mean vs reparameterised (RMS z-score)", t["bias_z"]) for name, t in table.items()
             if name != "reparameterised"]
    rows.append(("variance ratio score function / nvil / reparameterised",
                 "{:.0f} / {:.1f} / 1".format(table["score function"]["variance"] / table["reparameterised"]["variance"],
                                              table["nvil"]["variance"] / table["reparameterised"]["variance"])))
    elbos = {}
    if args.epochs:
        for name in ("reparameterised", "nvil", "score function"):
            elbos[name] = train_with(name, x_train, x_test, args)
            rows.append((f"test ELBO after {args.epochs} epochs, {name}", elbos[name]))
    print_report("Score function (NVIL) vs reparameterised gradients, VAE on binarised digits", rows)
    return dict(table=table, elbos=elbos)


if __name__ == "__main__":
    main()
