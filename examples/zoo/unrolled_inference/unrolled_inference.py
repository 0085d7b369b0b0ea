"""Learning through unrolled approximate inference (Domke, 2013): mean-field on a grid MRF,
unrolled as a graph and trained end to end, on a small Ising model with a known answer.

Data: clean images s in {-1, +1}^(n x n) drawn exactly from an Ising prior
``p(s) ~ exp(J sum_edges s_i s_j + h sum_i s_i)`` (n = 4: all 2^16 states enumerated),
observed through Gaussian noise ``y = s + sigma * eps``. The exact posterior
marginals p(s_i | y) are computable by enumeration: the Bayes-optimal answer.

Mean-field inference on the posterior runs T parallel updates
``m <- tanh(a * y + b + J * (N m))`` (N the grid's adjacency), m_i = E[s_i]. With the
true parameters (a = 1 / sigma^2, b = h, J) it is the classical approach — exact model,
approximate inference — and parallel updates at strong coupling over-count evidence.
Domke's alternative: treat the T updates as a network (a, b, J learned, one per
step here) and fit them by backprop through the unrolled updates to the clean pixels'
log loss, so learning compensates for the inference's errors.

Reported on held-out images: per-pixel log loss and accuracy of the exact marginals,
of mean-field with the true parameters, of the unrolled mean-field trained end to end,
and of a per-pixel model (J = 0) trained the same way.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from zoo_common import train_epochs, base_parser, batch_input, batch_values, print_report, seed_everything, softplus  # noqa: E402,E501


def grid_adjacency(n: int) -> np.ndarray:
    """(n*n, n*n) 0/1 matrix of 4-neighbour edges on an n x n grid (row-major pixels)."""
    adj = np.zeros((n * n, n * n))
    for r, c in itertools.product(range(n), range(n)):
        for dr, dc in ((0, 1), (1, 0)):
            if r + dr < n and c + dc < n:
                i, j = r * n + c, (r + dr) * n + c + dc
                adj[i, j] = adj[j, i] = 1.0
    return adj


class IsingTask:
    """The known model: an Ising prior on an n x n grid and Gaussian observation noise."""

    def __init__(self, n: int = 4, coupling: float = 0.6, field: float = 0.0, noise: float = 1.2):
        if n * n > 20:
            raise ValueError(f"IsingTask: exact enumeration needs n*n <= 20, got n = {n}")
        self.n, self.J, self.h, self.sigma = n, coupling, field, noise
        self.adj = grid_adjacency(n)
        self.states = np.array(list(itertools.product((-1.0, 1.0), repeat=n * n)))         # (2^(n^2), n^2)
        pair = 0.5 * np.einsum("si,ij,sj->s", self.states, self.adj, self.states)
        self.log_prior = coupling * pair + field * self.states.sum(axis=1)

    def sample(self, count: int, rng):
        """(clean images (count, n*n) in {-1, 1}, noisy observations (count, n*n))."""
        p = np.exp(self.log_prior - np.logaddexp.reduce(self.log_prior))
        s = self.states[rng.choice(len(self.states), count, p=p)]
        return s, s + self.sigma * rng.normal(size=s.shape)

    def exact_marginals(self, y: np.ndarray) -> np.ndarray:
        """p(s_i = +1 | y) by enumerating every state: (count, n*n)."""
        log_post = self.log_prior[None] + y @ self.states.T / self.sigma ** 2           # (count, states)
        post = np.exp(log_post - np.logaddexp.reduce(log_post, axis=1, keepdims=True))
        return post @ ((self.states + 1) / 2)

    def mean_field(self, y: np.ndarray, steps: int) -> np.ndarray:
        """p(s_i = +1) after `steps` parallel mean-field updates with the true parameters."""
        m = np.zeros_like(y)
        for _ in range(steps):
            m = np.tanh(y / self.sigma ** 2 + self.h + self.J * m @ self.adj)
        return (m + 1) / 2


class UnrolledMeanField:
    """T mean-field updates with learned (a_t, b_t, J_t) per step; J = 0 everywhere for the per-pixel model."""

    def __init__(self, pc, task: IsingTask, steps: int, pairwise: bool = True):
        self.steps, self.pairwise, self.adj = steps, pairwise, task.adj
        init = lambda v: [pc.add_parameters(1, init=float(v)) for _ in range(steps)]  # noqa: E731
        self.a, self.b = init(1.0 / task.sigma ** 2), init(task.h)
        self.J = init(task.J) if pairwise else None

    def logits(self, y: np.ndarray):
        """The last update's pre-activation z (m = tanh z) as (n*n,) x count."""
        yv = batch_input(y)
        adj = dy.inputTensor(self.adj)
        m, z = None, None
        for t in range(self.steps):
            z = dy.cmult(self.a[t], yv) + self.b[t]        # (1,) broadcast over the pixels
            if self.pairwise and m is not None:
                z = z + dy.cmult(self.J[t], adj * m)
            m = dy.tanh(z)
        return z

    def loss(self, y: np.ndarray, s: np.ndarray):
        """Mean over images of the pixels' log loss: -log sigmoid(2 s z), as p(s=+1) = (1 + tanh z) / 2."""
        z = self.logits(y)
        return dy.mean_batches(dy.sum_elems(softplus(-2.0 * dy.cmult(batch_input(s), z))))

    def marginals(self, y: np.ndarray) -> np.ndarray:
        dy.renew_cg()
        return batch_values(dy.logistic(2.0 * self.logits(y)))


def train(model: UnrolledMeanField, trainer, y, s, epochs: int, batch_size: int, rng, quiet=False) -> list[float]:
    """Fits the unrolled updates by backprop; returns each epoch's mean loss per image."""
    return train_epochs(lambda idx: model.loss(y[idx], s[idx]), trainer, len(y), epochs, batch_size, rng, quiet,
                        "unrolled mean field")


def scores(p_plus: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(per-pixel log loss in nats, per-pixel accuracy) of marginals p(s = +1) against clean s."""
    p = np.clip(np.where(s > 0, p_plus, 1 - p_plus), 1e-12, 1.0)
    return float(-np.mean(np.log(p))), float(np.mean((p_plus > 0.5) == (s > 0)))


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--coupling", type=float, default=0.6)
    p.add_argument("--noise", type=float, default=1.2)
    p.add_argument("--steps", type=int, default=5, help="mean-field updates unrolled")
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.02)
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    task = IsingTask(args.grid, args.coupling, 0.0, args.noise)
    s_train, y_train = task.sample(args.n_train, rng)
    s_test, y_test = task.sample(args.n_test, rng)
    results = {"exact posterior (Bayes-optimal)": scores(task.exact_marginals(y_test), s_test),
               f"mean field, true parameters, {args.steps} steps": scores(task.mean_field(y_test, args.steps), s_test)}
    for name, pairwise in ((f"unrolled mean field trained end to end, {args.steps} steps", True),
                           ("per-pixel model (J = 0) trained the same way", False)):
        pc = dy.ParameterCollection()
        model = UnrolledMeanField(pc, task, args.steps, pairwise)
        train(model, dy.AdamTrainer(pc, args.lr), y_train, s_train, args.epochs, args.batch_size, rng, args.quiet)
        results[name] = scores(model.marginals(y_test), s_test)
    rows = [("task", f"{args.grid}x{args.grid} Ising, J = {args.coupling}, noise sd {args.noise}, "
                     f"{args.n_train} training images")]
    rows += [(name, f"log loss {ll:.4f}  accuracy {acc:.4f}") for name, (ll, acc) in results.items()]
    print_report("Training through unrolled mean-field inference (per pixel, held-out images)", rows)
    return results


if __name__ == "__main__":
    main()
