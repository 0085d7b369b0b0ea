"""MLP-CRF sequence labelling on sequences from a known hidden Markov model.

Data: tags follow a cycle 0 -> 1 -> ... -> K-1 -> 0 with probability ``stick``
(any other tag otherwise); each tag emits a 2-D point from a Gaussian around one
corner of a polygon, noisy enough that one point alone is ambiguous.

Models, both with the same MLP mapping a point to K emission scores:

* MLP + softmax: each position classified on its own;
* MLP + CRF (``dynagraph.builders.CRF``): emission scores plus learned
  transition/start/end scores, trained by the CRF's negative log-likelihood and
  decoded by Viterbi.

Known answer: Viterbi decoding with the true HMM (the data's own parameters) is
the reference accuracy a learner can approach.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dynagraph as dy                                          # noqa: E402
from dynagraph.builders import CRF                              # noqa: E402
from zoo_common import base_parser, batch_values, minibatches, print_report, progress, seed_everything  # noqa: E402


class HMM:
    """The generating process: cyclic sticky transitions, Gaussian emissions around polygon corners."""

    def __init__(self, n_tags: int = 4, stick: float = 0.8, noise: float = 0.8):
        self.K, self.noise = n_tags, noise
        self.trans = np.full((n_tags, n_tags), (1 - stick) / (n_tags - 1))
        for k in range(n_tags):
            self.trans[k, (k + 1) % n_tags] = stick
        angles = 2 * np.pi * np.arange(n_tags) / n_tags
        self.means = np.stack([np.cos(angles), np.sin(angles)], axis=1)

    def sample(self, n: int, length: int, rng):
        """(points (n, T, 2), tags (n, T))."""
        tags = np.zeros((n, length), dtype=np.int64)
        tags[:, 0] = rng.integers(0, self.K, n)
        for t in range(1, length):
            u = rng.random(n)[:, None]
            tags[:, t] = np.argmax(u < np.cumsum(self.trans[tags[:, t - 1]], axis=1), axis=1)
        return self.means[tags] + self.noise * rng.normal(size=(n, length, 2)), tags

    def viterbi(self, points: np.ndarray) -> np.ndarray:
        """Most probable tag path under the true model for each sequence: (n, T)."""
        log_e = -0.5 * np.sum((points[:, :, None, :] - self.means) ** 2, axis=3) / self.noise ** 2   # (n, T, K)
        log_t = np.log(self.trans)
        score = log_e[:, 0] - np.log(self.K)
        back = []
        for t in range(1, points.shape[1]):
            cand = score[:, :, None] + log_t                                    # (n, prev, next)
            back.append(cand.argmax(axis=1))
            score = cand.max(axis=1) + log_e[:, t]
        path = [score.argmax(axis=1)]
        for ptr in reversed(back):
            path.append(ptr[np.arange(len(ptr)), path[-1]])
        return np.stack(path[::-1], axis=1)


class Tagger:
    """MLP emission scores, used with or without a CRF on top."""

    def __init__(self, pc, n_tags: int, n_hidden: int = 32, use_crf: bool = True):
        self.layers = [(pc.add_parameters((n_hidden, 2)), pc.add_parameters(n_hidden, init=0.0)),
                       (pc.add_parameters((n_tags, n_hidden)), pc.add_parameters(n_tags, init=0.0))]
        self.crf = CRF(n_tags, pc) if use_crf else None

    def emissions(self, points: np.ndarray) -> list:
        """One (K,) x B expression per position for points (B, T, 2)."""
        (W1, b1), (W2, b2) = self.layers
        out = []
        for t in range(points.shape[1]):
            x = dy.inputTensor(np.ascontiguousarray(points[:, t, :].T, dtype=np.float32), batched=True)
            out.append(dy.affine_transform([b2, W2, dy.tanh(dy.affine_transform([b1, W1, x]))]))
        return out

    def loss(self, points: np.ndarray, tags: np.ndarray):
        em = self.emissions(points)
        if self.crf is not None:
            nll = self.crf.neg_log_loss(em, tags.tolist() if len(tags) > 1 else tags[0].tolist())
        else:
            nll = dy.esum([dy.pickneglogsoftmax_batch(e, tags[:, t].tolist()) for t, e in enumerate(em)])
        return dy.sum_batches(nll) * (1.0 / len(points))

    def predict(self, points: np.ndarray) -> np.ndarray:
        dy.renew_cg()
        em = self.emissions(points)
        if self.crf is None:
            return np.stack([batch_values(e).argmax(axis=1) for e in em], axis=1)
        paths = self.crf.viterbi(em)
        if len(points) == 1:
            paths = [paths]
        return np.array([path for path, _ in paths])


def train(tagger: Tagger, trainer, points, tags, epochs: int, batch_size: int, rng, quiet=False, desc="") -> list[float]:
    curve = []
    for _ in progress(range(epochs), desc, quiet):
        total = 0.0
        for idx in minibatches(len(points), batch_size, rng):
            dy.renew_cg()
            loss = tagger.loss(points[idx], tags[idx])
            total += loss.value() * len(idx)
            loss.backward()
            trainer.update()
        curve.append(total / len(points))
    return curve


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--tags", type=int, default=4)
    p.add_argument("--stick", type=float, default=0.8, help="probability of the next tag in the cycle")
    p.add_argument("--noise", type=float, default=0.8, help="emission standard deviation")
    p.add_argument("--length", type=int, default=20)
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.01)
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    hmm = HMM(args.tags, args.stick, args.noise)
    x_train, y_train = hmm.sample(args.n_train, args.length, rng)
    x_test, y_test = hmm.sample(args.n_test, args.length, rng)
    rows = [("data", f"{args.tags} tags, stick {args.stick}, noise {args.noise}, {args.n_train} x {args.length} tokens"),
            ("true HMM Viterbi accuracy (reference)", float(np.mean(hmm.viterbi(x_test) == y_test)))]
    for name, use_crf in (("MLP + softmax", False), ("MLP + CRF", True)):
        pc = dy.ParameterCollection()
        tagger = Tagger(pc, args.tags, use_crf=use_crf)
        curve = train(tagger, dy.AdamTrainer(pc, args.lr), x_train, y_train, args.epochs, args.batch_size, rng,
                      args.quiet, name)
        acc = float(np.mean(tagger.predict(x_test) == y_test))
        rows += [(f"{name}: train loss first/last epoch", f"{curve[0]:.3f} / {curve[-1]:.3f}"),
                 (f"{name}: test token accuracy", acc)]
    print_report("MLP-CRF tagging of HMM sequences", rows)
    return dict(rows)


if __name__ == "__main__":
    main()
