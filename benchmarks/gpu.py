"""The GPU benchmark of tools/gpu_check.sh: dynagraph on a device against the CPU.

Two workloads, each timed per device given (default: CPU, EMU:0, and GPU:0
when this build has CUDA and a GPU), with PyTorch eager on the GPU beside
them when torch imports and sees one:

  treenn   an N-ary Tree-LSTM (hidden 128) trained over random binary trees
           of 8-32 leaves: construct, forward, backward, Adam update per tree
  chain    graph_overhead's chain at a large dimension: h = tanh(W h + b)
           for 20 steps, loss h.h, backward and an SGD update (dim 1024)

Device graphs run on the per-node executor (the autobatching executor is
CPU-only so far), so "treenn" measures unbatched device execution. EMU:0 is
the emulated device: its times say what the host loop costs, not a GPU's.
Prints milliseconds per sample and the ratio to the CPU.

    python benchmarks/gpu.py --quick
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import dynagraph as dy
from dynagraph import _core


def random_tree(rng, n):
    nodes, frontier, nid = [(i, []) for i in range(n)], list(range(n)), n
    while len(frontier) > 1:
        k = int(rng.integers(0, len(frontier) - 1))
        nodes.append((nid, [frontier[k], frontier[k + 1]]))
        frontier[k:k + 2] = [nid]
        nid += 1
    return nodes


def treenn(device, samples, hidden=128):
    dy.init(seed=1, device=device)
    rng = np.random.default_rng(0)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((1000, hidden))
    builder = dy.NaryTreeLSTMBuilder(2, 1, hidden, hidden, pc)
    W = pc.add_parameters((5, hidden))
    trainer = dy.AdamTrainer(pc)
    trees = [(random_tree(rng, int(rng.integers(8, 33))), rng.integers(0, 1000, 40), int(rng.integers(0, 5)))
             for _ in range(samples)]
    start = time.perf_counter()
    for tree, words, label in trees:
        dy.renew_cg()
        seq = builder.initial_state()
        h = None
        for node, kids in tree:
            h = seq.add_input(node, kids, dy.lookup(E, int(words[node])) if not kids else None)
        loss = dy.pickneglogsoftmax(W * h, label)
        loss.value()
        loss.backward()
        trainer.update()
    return (time.perf_counter() - start) / samples * 1e3


def chain(device, samples, dim=1024, steps=20):
    dy.init(seed=1, device=device)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((dim, dim), init=dy.NormalInitializer(0, 1.0 / dim))
    b = pc.add_parameters((dim,))
    trainer = dy.SimpleSGDTrainer(pc, 0.01)
    trainer.set_clip_threshold(0)
    x0 = np.random.default_rng(0).standard_normal(dim).astype(np.float32)
    start = time.perf_counter()
    for _ in range(samples):
        dy.renew_cg()
        h = dy.inputVector(x0)
        for _ in range(steps):
            h = dy.tanh(W * h + b)
        loss = dy.sum_elems(dy.cmult(h, h))
        loss.value()
        loss.backward()
        trainer.update()
    return (time.perf_counter() - start) / samples * 1e3


def torch_chain(samples, dim=1024, steps=20):
    import torch
    dev = torch.device("cuda")
    W = (torch.randn(dim, dim, device=dev) / dim).requires_grad_()
    b = torch.zeros(dim, device=dev, requires_grad=True)
    opt = torch.optim.SGD([W, b], lr=0.01)
    x0 = torch.randn(dim, device=dev)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(samples):
        h = x0
        for _ in range(steps):
            h = torch.tanh(W @ h + b)
        loss = (h * h).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / samples * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help="few samples (a smoke run)")
    args = ap.parse_args()
    devices = args.devices or (["CPU", "EMU:0"] + (["GPU:0"] if _core.cuda_device_count() else []))
    n_tree, n_chain = (5, 3) if args.quick else (100, 30)
    for name, fn, n in (("treenn", treenn, n_tree), ("chain", chain, n_chain)):
        fn("CPU", 1)  # warm-up (allocations, first-touch of pools)
        times = {d: fn(d, n) for d in devices}
        line = "  ".join(f"{d} {t:8.2f} ms ({times['CPU'] / t:5.2f}x CPU)" for d, t in times.items())
        print(f"{name:7s} {line}", flush=True)
    try:
        import torch
        if torch.cuda.is_available():
            print(f"chain   torch-eager-GPU {torch_chain(n_chain):8.2f} ms", flush=True)
    except ImportError:
        print("chain   torch not installed: no PyTorch eager GPU figure")
    dy.init(device="CPU")


if __name__ == "__main__":
    main()
