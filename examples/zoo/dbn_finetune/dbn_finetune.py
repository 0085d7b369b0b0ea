"""Fine-tuning a deep belief network by backprop (Hinton & Salakhutdinov, 2006), on 8x8 digits.

The RBMs stacked greedily by ``dbn/dbn.py`` are unrolled into two deterministic
networks whose weights start at the RBMs' and are then trained end to end:

* a classifier ``x -> sigmoid(W1 x + c1) -> sigmoid(W2 h1 + c2) -> softmax(V h2 + d)``
  (V new), trained on labels with cross-entropy;
* an autoencoder: the same encoder, then the transposed weights back down
  ``h2 -> sigmoid(W2^T h2 + b2) -> sigmoid(W1^T h1 + b1)`` (untied copies), trained
  on the pixels' cross-entropy.

Each is compared with the same architecture from random (Glorot) weights, trained
the same way. Pretraining uses every training image without labels; the classifiers
also run with only a fraction of the labels, where pretraining matters most.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rbm"))
import dynagraph as dy                                          # noqa: E402
from dbn.dbn import DBN                                         # noqa: E402
from zoo_common import (train_epochs, base_parser, batch_input, batch_values, load_digits,  # noqa: E402
                        print_report, seed_everything, softplus)


def _dense(pc, n_out: int, n_in: int, init=None):
    """(W, b) parameters; from arrays (W: n_out x n_in, b: n_out) when given, else Glorot and zero."""
    if init is None:
        return pc.add_parameters((n_out, n_in)), pc.add_parameters(n_out, init=0.0)
    W, b = init
    return pc.parameters_from_numpy(np.asarray(W, np.float32)), pc.parameters_from_numpy(np.asarray(b, np.float32))


def _affine(layer, x):
    return dy.affine_transform([layer[1], layer[0], x])


def rbm_arrays(dbn: DBN):
    """Per RBM: (W hidden x visible, visible bias, hidden bias) as NumPy arrays."""
    return [tuple(np.asarray(a, np.float64) for a in rbm.params()) for rbm in dbn.layers]


class UnrolledClassifier:
    """Sigmoid layers (from the DBN or random) and a new softmax layer on top."""

    def __init__(self, pc, sizes: list[int], n_classes: int, dbn_weights=None):
        self.hidden = [_dense(pc, o, i, None if dbn_weights is None else (dbn_weights[j][0], dbn_weights[j][2]))
                       for j, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]))]
        self.out = _dense(pc, n_classes, sizes[-1])

    def logits(self, x):
        for layer in self.hidden:
            x = dy.logistic(_affine(layer, x))
        return _affine(self.out, x)

    def loss(self, rows: np.ndarray, labels: np.ndarray):
        return dy.mean_batches(dy.pickneglogsoftmax_batch(self.logits(batch_input(rows)), [int(t) for t in labels]))

    def accuracy(self, rows: np.ndarray, labels: np.ndarray) -> float:
        dy.renew_cg()
        return float(np.mean(batch_values(self.logits(batch_input(rows))).argmax(axis=1) == labels))


class UnrolledAutoencoder:
    """Encoder W1, W2 (hidden biases), decoder W2^T, W1^T (visible biases); untied after unrolling."""

    def __init__(self, pc, sizes: list[int], dbn_weights=None):
        pairs = list(zip(sizes[:-1], sizes[1:]))
        self.enc = [_dense(pc, o, i, None if dbn_weights is None else (dbn_weights[j][0], dbn_weights[j][2]))
                    for j, (i, o) in enumerate(pairs)]
        self.dec = [_dense(pc, i, o, None if dbn_weights is None else (dbn_weights[j][0].T, dbn_weights[j][1]))
                    for j, (i, o) in reversed(list(enumerate(pairs)))]

    def logits(self, x):
        """Pixel logits of the reconstruction."""
        for layer in self.enc:
            x = dy.logistic(_affine(layer, x))
        for layer in self.dec[:-1]:
            x = dy.logistic(_affine(layer, x))
        return _affine(self.dec[-1], x)

    def loss(self, rows: np.ndarray, _labels=None):
        """Mean over the batch of the pixels' cross-entropy, summed over pixels."""
        x = batch_input(rows)
        a = self.logits(x)
        return dy.mean_batches(dy.sum_elems(softplus(a) - dy.cmult(x, a)))

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        dy.renew_cg()
        return batch_values(dy.logistic(self.logits(batch_input(rows))))

    def error(self, rows: np.ndarray) -> float:
        """Mean squared reconstruction error per image (summed over pixels)."""
        return float(np.mean(np.sum((self.reconstruct(rows) - rows) ** 2, axis=1)))


def fine_tune(model, trainer, x, y, epochs: int, batch_size: int, rng, quiet=False, desc="fine-tune") -> list[float]:
    """Backprop on model.loss; returns each epoch's mean loss."""
    return train_epochs(lambda idx: model.loss(x[idx], None if y is None else y[idx]), trainer, len(x), epochs,
                        batch_size, rng, quiet, desc)


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 32], help="layer sizes, pixels first")
    p.add_argument("--rbm-epochs", type=int, default=40, help="pretraining epochs per RBM")
    p.add_argument("--epochs", type=int, default=60, help="fine-tuning epochs")
    p.add_argument("--label-fractions", type=float, nargs="+", default=[0.05, 1.0])
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's rate for fine-tuning")
    args = p.parse_args(argv)
    rng = seed_everything(args.seed)
    x_train, y_train, x_test, y_test = load_digits(binarize=True)
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    dbn = DBN(args.sizes)
    dbn.fit(x_train, args.rbm_epochs, args.batch_size, 0.05, 1, False, rng, args.quiet)
    weights = rbm_arrays(dbn)
    rows, results = [("layers", " -> ".join(map(str, args.sizes)))], {}
    for start in ("DBN", "random"):
        pc = dy.ParameterCollection()
        ae = UnrolledAutoencoder(pc, args.sizes, weights if start == "DBN" else None)
        before = ae.error(x_test)
        fine_tune(ae, dy.AdamTrainer(pc, args.lr), x_train, None, args.epochs, args.batch_size, rng, args.quiet,
                  f"autoencoder from {start}")
        results[f"autoencoder {start}"] = (before, ae.error(x_test))
        rows.append((f"autoencoder from {start}: test squared error, start / fine-tuned",
                     f"{before:.3f} / {results[f'autoencoder {start}'][1]:.3f}"))
    for fraction in args.label_fractions:
        n = max(10, int(round(fraction * len(x_train))))
        pick = rng.permutation(len(x_train))[:n]
        for start in ("DBN", "random"):
            pc = dy.ParameterCollection()
            clf = UnrolledClassifier(pc, args.sizes, 10, weights if start == "DBN" else None)
            fine_tune(clf, dy.AdamTrainer(pc, args.lr), x_train[pick], y_train[pick], args.epochs,
                      args.batch_size, rng, args.quiet, f"classifier from {start}, {n} labels")
            results[f"classifier {start} {n}"] = acc = clf.accuracy(x_test, y_test)
            rows.append((f"classifier from {start}, {n} labels: test accuracy", acc))
    print_report("DBN fine-tuning vs random initialisation, binarised 8x8 digits", rows)
    return results


if __name__ == "__main__":
    main()
