"""Helpers shared by the model-zoo programs: data, progress bars, figures, reports.

Every program in ``examples/zoo/<model>/`` puts this folder on ``sys.path`` and
imports from here, so the programs themselves stay about the model.
"""
from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import numpy as np

import dynagraph as dy

try:
    from tqdm import tqdm
except ImportError:                                     # tqdm is a dependency, but keep the zoo runnable without it
    tqdm = None


def base_parser(description: str) -> argparse.ArgumentParser:
    """An ``argparse`` parser with the options every zoo program takes."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seed", type=int, default=1, help="seed for NumPy and the engine")
    p.add_argument("--out", type=Path, default=Path("zoo_out"), help="folder for figures")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def seed_everything(seed: int) -> np.random.Generator:
    """Seeds the engine's random ops and returns a NumPy generator with the same seed."""
    dy.init(seed=seed)
    return np.random.default_rng(seed)


def progress(iterable, desc: str = "", quiet: bool = False):
    """``tqdm`` over iterable unless quiet (or tqdm is missing)."""
    if quiet or tqdm is None:
        return iterable
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True)


def sklearn(module: str):
    """``sklearn.<module>``; without scikit-learn, exits with one line that says how to get it."""
    try:
        return importlib.import_module(f"sklearn.{module}")
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install scikit-learn "
                         "(or pip install \".[zoo]\" in the checkout)") from None


def load_digits(test_fraction: float = 0.2, seed: int = 0, binarize: bool = False):
    """scikit-learn's 8x8 digits as float32 rows in [0, 1] (or {0, 1} when binarize).

    Returns ``(x_train, y_train, x_test, y_test)`` with x of shape (N, 64), y of shape (N,).
    """
    data = sklearn("datasets").load_digits()
    x = (data.data / 16.0).astype(np.float32)
    if binarize:
        x = (x >= 0.5).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def minibatches(n: int, batch_size: int, rng: np.random.Generator):
    """Shuffled index arrays covering range(n) once."""
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def train_epochs(loss_of, trainer, n: int, epochs: int, batch_size: int, rng: np.random.Generator,
                 quiet: bool = False, desc: str = "") -> list[float]:
    """Minibatch training: each shuffled batch of indices ``idx`` builds ``loss_of(idx)`` (the batch's
    mean loss) in a fresh graph, then backward and one update. Returns each epoch's mean loss."""
    curve = []
    for _ in progress(range(epochs), desc, quiet):
        total = 0.0
        for idx in minibatches(n, batch_size, rng):
            dy.renew_cg()
            loss = loss_of(idx)
            total += loss.value() * len(idx)
            loss.backward()
            trainer.update()
        curve.append(total / n)
    return curve


def batch_input(rows: np.ndarray):
    """Rows (B, D) as one (D,) x B expression."""
    return dy.inputTensor(np.ascontiguousarray(rows.T, dtype=np.float32), batched=True)


def batch_values(e) -> np.ndarray:
    """A (D,) x B expression's value as rows (B, D) (also for B == 1)."""
    shape, b = e.dim()
    return np.asarray(e.npvalue(), dtype=np.float64).reshape(int(np.prod(shape)), b).T


def softplus(x):
    """log(1 + exp(x)), written as -log_sigmoid(-x) so it is stable for large |x|."""
    return -dy.log_sigmoid(-x)


def have_matplotlib() -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        return True
    except ImportError:
        return False


def save_image_grid(rows: list[np.ndarray], path: Path, titles: list[str] | None = None) -> Path | None:
    """Saves lists of 8x8 images (each an (n, 64) array) as a PNG, one list per row band."""
    if not have_matplotlib():
        print(f"matplotlib missing: not writing {path}")
        return None
    import matplotlib.pyplot as plt
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.6, len(rows) * 0.7), squeeze=False)
    for i, band in enumerate(rows):
        for j in range(cols):
            ax = axes[i, j]
            ax.axis("off")
            if j < len(band):
                ax.imshow(np.asarray(band[j]).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        if titles:
            axes[i, 0].set_title(titles[i], fontsize=7, loc="left")
    return save_figure(fig, path, dpi=120)


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Writes a matplotlib figure to ``path`` (making its folder), closes it and returns ``path``."""
    import matplotlib.pyplot as plt
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def print_report(title: str, rows: list[tuple[str, object]]) -> None:
    """A two-column final report."""
    width = max(len(k) for k, _ in rows)
    print(f"\n== {title} ==")
    for k, v in rows:
        v = f"{v:.4f}" if isinstance(v, float) else v
        print(f"  {k:<{width}}  {v}")


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
