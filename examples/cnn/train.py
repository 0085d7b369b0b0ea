"""Train a small convolutional network on scikit-learn's 8x8 handwritten digits.

    python examples/cnn/train.py                    # train, evaluate, report time per epoch
    python examples/cnn/train.py --compare-torch    # and the same model in PyTorch, timed the same way

The network (DyNet's layout: images are H x W x channels, batch last):

    8x8x1 -> conv 3x3 (SAME) -> ReLU -> max-pool 2x2   -> 4x4xC1
          -> conv 3x3 (SAME) -> ReLU -> max-pool 2x2   -> 2x2xC2
          -> flatten -> dense -> ReLU -> dense -> 10 classes

Minibatches are real batched expressions (``inputTensor(..., batched=True)``),
trained with Adam on the mean negative log-likelihood (learning rate halved
after half and after three quarters of the epochs); training images are
shifted by up to one pixel at random. The digits (1797
images) are split 80/20, stratified, with a fixed seed.

Importable pieces (used by the smoke test): ``load_digits_split(args)``,
``CNN(pc, args)``, ``train(args)`` -> dict of results.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import numpy as np
from tqdm import tqdm

try:  # the help formatter only: --backend decides which module trains
    from dynagraph.training import HelpFormatter
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from dynagraph.training import HelpFormatter

NUM_CLASSES = 10


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.002, help="Adam learning rate (halved after 50%% and 75%% of the epochs)")
    p.add_argument("--filters", type=int, nargs=2, default=[32, 64], metavar=("C1", "C2"),
                   help="channels of the two convolutions")
    p.add_argument("--hidden", type=int, default=128, help="units of the dense hidden layer")
    p.add_argument("--dropout", type=float, default=0.3, help="dropout before the last layer (training only)")
    p.add_argument("--shift", type=int, default=1,
                   help="augmentation: shift training images by up to this many pixels (0 = off)")
    p.add_argument("--seed", type=int, default=1, help="initialization and shuffling seed")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--limit", type=int, default=None, help="use only this many training images (smoke tests)")
    p.add_argument("--backend", default="dynagraph", choices=["dynagraph", "dynet"],
                   help="module imported as dy (dynet: run the identical program on DyNet)")
    p.add_argument("--compare-torch", action="store_true", help="also train the same model in PyTorch")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="PyTorch intra-op threads for --compare-torch (dynagraph computes on one thread)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


# ---- data
def load_digits_split(args):
    """(x_train, y_train, x_test, y_test); images as float32 (N, 8, 8) scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("examples/cnn needs scikit-learn for its data set: pip install scikit-learn") from None

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=args.test_fraction, random_state=0, stratify=y)
    if args.limit:
        x_tr, y_tr = x_tr[:args.limit], y_tr[:args.limit]
    return x_tr, y_tr, x_te, y_te


def augment(images: np.ndarray, shift: int, rng) -> np.ndarray:
    """Each image moved by a random (dy, dx) in [-shift, shift]^2, zero-filled."""
    if shift <= 0:
        return images
    out = np.zeros_like(images)
    n, h, w = images.shape
    for k, (dy, dx) in enumerate(rng.integers(-shift, shift + 1, size=(n, 2))):
        src = images[k, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        out[k, max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return out


def learning_rate(args, epoch: int) -> float:
    """Step schedule: lr, then lr/2 from half of the epochs on, then lr/4 from three quarters on."""
    return args.lr * (0.5 ** ((epoch - 1 >= args.epochs // 2) + (epoch - 1 >= 3 * args.epochs // 4)))


def batches(n: int, size: int, rng=None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, size):
        yield order[start:start + size]


# ---- the model
class CNN:
    """Two conv/pool stages and a two-layer classifier, in a ParameterCollection."""

    def __init__(self, dy, pc, args):
        self.dy = dy
        c1, c2 = args.filters
        self.conv1 = pc.add_parameters((3, 3, 1, c1))   # FH x FW x in x out
        self.b1 = pc.add_parameters((c1,), init=0.0)
        self.conv2 = pc.add_parameters((3, 3, c1, c2))
        self.b2 = pc.add_parameters((c2,), init=0.0)
        self.flat = 2 * 2 * c2
        self.W1 = pc.add_parameters((args.hidden, self.flat))
        self.bh = pc.add_parameters((args.hidden,), init=0.0)
        self.W2 = pc.add_parameters((NUM_CLASSES, args.hidden))
        self.bo = pc.add_parameters((NUM_CLASSES,), init=0.0)
        self.dropout = args.dropout

    def logits(self, images: np.ndarray, train: bool):
        """images: (B, 8, 8) -> expression of shape (10,) with batch B."""
        dy = self.dy
        n = len(images)
        x = dy.inputTensor(np.ascontiguousarray(images.transpose(1, 2, 0))[:, :, None, :], batched=True)
        h = dy.rectify(dy.conv2d_bias(x, self.conv1, self.b1, [1, 1], is_valid=False))
        h = dy.maxpooling2d(h, [2, 2], [2, 2])
        h = dy.rectify(dy.conv2d_bias(h, self.conv2, self.b2, [1, 1], is_valid=False))
        h = dy.maxpooling2d(h, [2, 2], [2, 2])
        h = dy.reshape(h, (self.flat,), batch_size=n)
        h = dy.rectify(dy.affine_transform([self.bh, self.W1, h]))
        if train and self.dropout > 0:
            h = dy.dropout(h, self.dropout)
        return dy.affine_transform([self.bo, self.W2, h])


def evaluate(dy, model, x, y, batch_size: int) -> float:
    correct = 0
    for idx in batches(len(x), 256):
        dy.renew_cg()
        scores = model.logits(x[idx], train=False).npvalue()
        scores = scores.reshape(NUM_CLASSES, -1)
        correct += int((scores.argmax(axis=0) == y[idx]).sum())
    return correct / len(x)


def train(args) -> dict:
    """Trains and evaluates with the module named by args.backend; returns the results."""
    dy = importlib.import_module(args.backend)
    if args.backend == "dynagraph":
        dy.init(seed=args.seed)
    x_tr, y_tr, x_te, y_te = load_digits_split(args)
    pc = dy.ParameterCollection()
    model = CNN(dy, pc, args)
    trainer = dy.AdamTrainer(pc, args.lr)
    rng = np.random.default_rng(args.seed)
    epoch_times, losses = [], []
    for epoch in range(1, args.epochs + 1):
        trainer.learning_rate = learning_rate(args, epoch)
        start, total = time.perf_counter(), 0.0
        bar = tqdm(list(batches(len(x_tr), args.batch_size, rng)), desc=f"{args.backend} epoch {epoch}",
                   disable=args.quiet, leave=False)
        for idx in bar:
            dy.renew_cg()
            images = augment(x_tr[idx], args.shift, rng)
            loss = dy.mean_batches(dy.pickneglogsoftmax_batch(model.logits(images, train=True),
                                                              [int(c) for c in y_tr[idx]]))
            total += loss.value() * len(idx)
            loss.backward()
            trainer.update()
        epoch_times.append(time.perf_counter() - start)
        losses.append(total / len(x_tr))
        if not args.quiet:
            print(f"{args.backend} epoch {epoch:2d}  loss {losses[-1]:.4f}  {epoch_times[-1]:.2f}s")
    accuracy = evaluate(dy, model, x_te, y_te, args.batch_size)
    return {"backend": args.backend, "accuracy": accuracy, "epoch_times": epoch_times, "losses": losses,
            "train_size": len(x_tr), "test_size": len(x_te)}


# ---- the same model in PyTorch
def train_torch(args) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.torch_threads)
    x_tr, y_tr, x_te, y_te = load_digits_split(args)
    c1, c2 = args.filters
    net = nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * c2, args.hidden), nn.ReLU(), nn.Dropout(args.dropout),
        nn.Linear(args.hidden, NUM_CLASSES))
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    yt = torch.from_numpy(y_tr)
    rng = np.random.default_rng(args.seed)
    epoch_times, losses = [], []
    for epoch in range(1, args.epochs + 1):
        net.train()
        for group in opt.param_groups:
            group["lr"] = learning_rate(args, epoch)
        start, total = time.perf_counter(), 0.0
        for idx in tqdm(list(batches(len(x_tr), args.batch_size, rng)), desc=f"torch epoch {epoch}",
                        disable=args.quiet, leave=False):
            images = torch.from_numpy(augment(x_tr[idx], args.shift, rng)[:, None])
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(images), yt[torch.from_numpy(idx)])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        epoch_times.append(time.perf_counter() - start)
        losses.append(total / len(x_tr))
        if not args.quiet:
            print(f"torch epoch {epoch:2d}  loss {losses[-1]:.4f}  {epoch_times[-1]:.2f}s")
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(x_te[:, None])).argmax(dim=1).numpy()
    return {"backend": f"torch ({args.torch_threads} thread{'s' if args.torch_threads != 1 else ''})",
            "accuracy": float((pred == y_te).mean()), "epoch_times": epoch_times, "losses": losses,
            "train_size": len(x_tr), "test_size": len(x_te)}


def report(results: list) -> str:
    lines = [f"{'backend':<22} {'test acc':>9} {'s/epoch':>9} {'total s':>9} {'final loss':>11}"]
    for r in results:
        times = r["epoch_times"]
        lines.append(f"{r['backend']:<22} {100 * r['accuracy']:8.2f}% {np.mean(times):9.3f} {np.sum(times):9.2f} "
                     f"{r['losses'][-1]:11.4f}")
    first = results[0]
    lines.append(f"({first['train_size']} training / {first['test_size']} test images, "
                 f"{len(first['epoch_times'])} epochs)")
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = [train(args)]
    if args.compare_torch:
        results.append(train_torch(args))
    print(report(results))
    return {r["backend"]: r for r in results}


if __name__ == "__main__":
    main()
