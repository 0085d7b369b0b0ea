"""Central finite differences for the engine's gradient tests."""
import numpy as np


def numeric_gradient(value_at, w0, eps=1e-3):
    """d value_at(w) / dw at w0, entry by entry: (value_at(w0 + eps e) - value_at(w0 - eps e)) / 2 eps."""
    numeric = np.zeros_like(w0, dtype=np.float64)
    for idx in np.ndindex(*w0.shape):
        up, dn = w0.copy(), w0.copy()
        up[idx] += eps
        dn[idx] -= eps
        numeric[idx] = (value_at(up) - value_at(dn)) / (2 * eps)
    return numeric
