"""Small-CNN forward + backward on CPU: dynagraph vs PyTorch (and DyNet).

Network (DyNet layout, batch B): x (28, 28, 1) -> conv 3x3x1x16 SAME + bias -> relu
-> maxpool 2x2/2 -> conv 3x3x16x32 SAME + bias -> relu -> maxpool 2x2/2 -> sum.
Each framework runs forward and backward with respect to the filters and
biases. Prints milliseconds per step and the ratio PyTorch time / dynagraph time
(>= 1 means dynagraph is at least as fast). dynagraph's engine is single-threaded;
PyTorch is timed with 1 thread and with its default thread count.

    python benchmarks/conv.py [--batch 32] [--steps 5] [--rounds 20]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def race(steps: dict, rounds: int, per_round: int) -> dict:
    """Milliseconds per call of each step function: the best round of `per_round`
    calls, rounds interleaved across the contenders (fair on a loaded machine)."""
    best = {name: float("inf") for name in steps}
    for name, step in steps.items():  # warm-up: pools, caches, lazy initialisation
        for _ in range(3):
            step()
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                step()
            best[name] = min(best[name], (time.perf_counter() - t0) / per_round)
    return {name: t * 1e3 for name, t in best.items()}


def weights(rng):
    return [rng.standard_normal(s).astype(np.float32) * 0.1 for s in [(3, 3, 1, 16), (16,), (3, 3, 16, 32), (32,)]]


def dyn_step_fn(m, x, w):
    """A step for DyNet's API (dynagraph or dynet): forward + backward."""
    pc = m.ParameterCollection()
    params = [pc.add_parameters(a.shape) for a in w]
    for p, a in zip(params, w):
        p.set_value(a)

    def step():
        m.renew_cg()
        f1, b1, f2, b2 = [m.parameter(p) for p in params]
        h = m.inputTensor(x, batched=True)
        h = m.maxpooling2d(m.rectify(m.conv2d_bias(h, f1, b1, [1, 1], False)), [2, 2], [2, 2])
        h = m.maxpooling2d(m.rectify(m.conv2d_bias(h, f2, b2, [1, 1], False)), [2, 2], [2, 2])
        loss = m.sum_batches(m.sum_elems(h))
        loss.value()
        loss.backward()
        return loss.value()

    return step


def torch_step_fn(torch, x, w):
    xt = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1))))  # (B, C, H, W)
    f1 = torch.from_numpy(np.ascontiguousarray(np.transpose(w[0], (3, 2, 0, 1)))).requires_grad_()
    b1 = torch.from_numpy(w[1]).requires_grad_()
    f2 = torch.from_numpy(np.ascontiguousarray(np.transpose(w[2], (3, 2, 0, 1)))).requires_grad_()
    b2 = torch.from_numpy(w[3]).requires_grad_()
    F = torch.nn.functional

    def step():
        for p in (f1, b1, f2, b2):
            p.grad = None
        h = F.max_pool2d(F.relu(F.conv2d(xt, f1, b1, padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, f2, b2, padding=1)), 2)
        loss = h.sum()
        loss.backward()
        return float(loss.detach())

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=20, help="interleaved rounds; the best round counts")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((28, 28, 1, args.batch)).astype(np.float32)
    w = weights(rng)

    import dynagraph as dg
    steps = {"dynagraph": dyn_step_fn(dg, x, w)}
    loss_dg = steps["dynagraph"]()
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        threads = torch.get_num_threads()
        t_step = torch_step_fn(torch, x, w)
        loss_t = t_step()
        if not np.isclose(loss_t, loss_dg, rtol=1e-3):
            print(f"warning: losses differ: dynagraph {loss_dg:.4f}, torch {loss_t:.4f}", file=sys.stderr)

        def one_thread(step=t_step):
            torch.set_num_threads(1)
            return step()

        def all_threads(step=t_step):
            torch.set_num_threads(threads)
            return step()

        steps["torch (1 thread)"] = one_thread
        if threads > 1:
            steps[f"torch ({threads} threads)"] = all_threads
    results = race(steps, args.rounds, args.steps)
    try:
        import dynet
    except ImportError:
        dynet = None
    if dynet is not None:  # much slower: timed on its own, fewer calls
        results.update(race({"dynet": dyn_step_fn(dynet, x, w)}, 3, max(2, args.steps // 2)))

    base = results["dynagraph"]
    print(f"small CNN, batch {args.batch}, 28x28x1 -> conv16 -> pool -> conv32 -> pool; forward + backward")
    for name, ms in results.items():
        ratio = "" if name == "dynagraph" else f"   {name} / dynagraph = {ms / base:.2f}x"
        print(f"  {name:<22s} {ms:8.2f} ms/step{ratio}")


if __name__ == "__main__":
    main()
