"""Distributed training throughput, bytes per iteration and the cost model's projection.

    python benchmarks/distributed.py               # 1 and 2 workers, every consistency and scheme
    python benchmarks/distributed.py --workers 1 2 4 --epochs 3
    python benchmarks/distributed.py --projection-only

Models (``--model``), both over x of 64 values with a label of +-1, loss
-log sigmoid(y s):

* ``mlp`` (default): s = w2 · tanh(W1 x + b1) + b2, W1 of 128 x 64; batch 16
  per worker (K = 16 factor pairs per matrix per iteration). Little compute
  per byte: it measures the communication path.
* ``rnn``: x read as 16 steps of 4 values, h_t = tanh(W h_{t-1} + U x_t + b)
  with 128 hidden units, s = w2 · h_16 + b2; batch 1024 per worker. About 100
  graph nodes per sample and 68 kB of parameters, ~75 ms of compute per
  iteration against ~10 ms of communication: a compute-bound per-sample
  dynamic-graph model, the one to read scaling from
  (``python benchmarks/distributed.py --model rnn --consistency bsp ssp asp --scheme ps``).
* ``wide``: s = w2 · tanh(W1 tanh(W0 x) + b1), W1 of 1024 x 1024 (4 MB), batch 16
  per worker: Poseidon's example layer, where factors are 32x smaller than the
  gradient. It tests whether hybrid picks SFB when SFB is the faster scheme.
* ``layer``: that layer alone, s = sum(tanh(W x)) / 32 over x of 1024 values,
  batch 16: the issue's "1024 x 1024 layer with K = 16", for its bytes
  (``--model layer --workers 8 --consistency bsp --scheme ps sfb --epochs 1``).

Writes a JSON summary and, when matplotlib is installed, PNGs of the projection and
of throughput against workers (`--workers 1 2 4`).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import dynagraph as dy
except ImportError:  # a checkout built in place, not installed (an installed one must win over the source)
    sys.path.insert(0, ROOT)
    import dynagraph as dy
import dynagraph.distributed as dd  # noqa: E402
from dynagraph.distributed import cost_model  # noqa: E402

IN, HIDDEN = 64, 128


class Net:
    def __init__(self, pc):
        self.W1 = pc.add_parameters((HIDDEN, IN), name="W1")
        self.b1 = pc.add_parameters(HIDDEN, name="b1", init=0.0)
        self.W2 = pc.add_parameters((1, HIDDEN), name="W2")
        self.b2 = pc.add_parameters(1, name="b2", init=0.0)


class RNN:
    STEPS, HID = 16, 128

    def __init__(self, pc):
        self.W = pc.add_parameters((self.HID, self.HID), name="W")
        self.U = pc.add_parameters((self.HID, IN // self.STEPS), name="U")
        self.b = pc.add_parameters(self.HID, name="b", init=0.0)
        self.w2 = pc.add_parameters((1, self.HID), name="w2")
        self.b2 = pc.add_parameters(1, name="b2", init=0.0)


def build(pc, model="mlp"):
    return MODELS[model][0](pc)


def rnn_loss(net, batch):
    W, U, b, w2, b2 = (dy.parameter(p) for p in (net.W, net.U, net.b, net.w2, net.b2))
    step = IN // net.STEPS
    terms = []
    for x, y in batch:
        h = dy.zeros(net.HID)
        for t in range(net.STEPS):
            h = dy.tanh(dy.affine_transform([b, W, h, U, dy.inputVector(x[t * step:(t + 1) * step])]))
        terms.append(-dy.log_sigmoid((w2 * h + b2) * float(y)))
    return dy.esum(terms)


def loss_fn(net, batch):
    terms = []
    for x, y in batch:
        h = dy.tanh(dy.affine_transform([dy.parameter(net.b1), dy.parameter(net.W1), dy.inputVector(x)]))
        s = dy.affine_transform([dy.parameter(net.b2), dy.parameter(net.W2), h])
        terms.append(-dy.log_sigmoid(s * float(y)))
    return dy.esum(terms)


class Wide:
    HID = 1024

    def __init__(self, pc):
        self.W0 = pc.add_parameters((self.HID, IN), name="W0")
        self.W1 = pc.add_parameters((self.HID, self.HID), name="W1")
        self.b1 = pc.add_parameters(self.HID, name="b1", init=0.0)
        self.w2 = pc.add_parameters((1, self.HID), name="w2")


def wide_loss(net, batch):
    W0, W1, b1, w2 = (dy.parameter(p) for p in (net.W0, net.W1, net.b1, net.w2))
    terms = []
    for x, y in batch:
        h = dy.tanh(dy.affine_transform([b1, W1, dy.tanh(W0 * dy.inputVector(x))]))
        terms.append(-dy.log_sigmoid((w2 * h) * float(y)))
    return dy.esum(terms)


class Layer:
    DIM = 1024

    def __init__(self, pc):
        self.W = pc.add_parameters((self.DIM, self.DIM), name="W")


def layer_loss(net, batch):
    W = dy.parameter(net.W)
    return dy.esum([-dy.log_sigmoid(dy.sum_elems(dy.tanh(W * dy.inputVector(x))) * (float(y) / 32))
                    for x, y in batch])


MODELS = {"mlp": (Net, loss_fn), "rnn": (RNN, rnn_loss), "wide": (Wide, wide_loss),  # --model: (class, loss)
          "layer": (Layer, layer_loss)}
INPUTS = {"layer": Layer.DIM}  # input size where it is not IN


def data(n, seed=0, dim=IN):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=dim)
    xs = rng.normal(size=(n, dim)).astype(np.float32)
    return [(x, 1 if x @ w > 0 else -1) for x in xs]  # arrays: actors receive them in one pickle


def run_one(workers, consistency, scheme, epochs, batch, samples_per_worker, model="mlp"):
    job = dd.Trainer(functools.partial(build, model=model), MODELS[model][1],
                     data=data(workers * samples_per_worker, dim=INPUTS.get(model, IN)),
                     workers=workers, servers=1,
                     consistency=consistency, staleness=2, scheme=scheme.split("-")[0],
                     optimizer=("adam", {"learning_rate": 1e-3}), batch_size=batch,
                     link="bytes" if scheme == "hybrid-bytes" else "measure")
    try:
        job.fit(epochs=1)  # warm-up: actor start, first pulls
        out = job.fit(epochs=epochs)
    finally:
        job.shutdown()
    b = out["worker_bytes"]
    return {"workers": workers, "consistency": consistency, "scheme": scheme, "replicated": job.replicated,
            "trial": job.trial,
            "samples_per_second": round(out["samples_per_second"], 1),
            "bytes_per_worker_iteration": round(b["total"] / out["iterations"] / workers),
            "server_bytes_per_iteration": (None if out["server_bytes"] is None
                                           else round(out["server_bytes"]["total"] / out["iterations"])),
            "bytes_by_kind": {**{"sent_" + k: v for k, v in b["sent"].items()},
                              **{"received_" + k: v for k, v in b["received"].items()}},
            "iterations": out["iterations"], "seconds": round(out["seconds"], 2)}


def projection(m=1024, n=1024, k=16):
    rows = cost_model.projection(m, n, k, workers=(8, 16, 32, 64, 128, 256))
    out = []
    for p1, p2, ps, sfb, best in rows:
        out.append({"workers": p1, "servers": p2, "ps_bytes_per_machine": ps, "sfb_bytes_per_machine": sfb,
                    "best": best, "ps_over_sfb": round(ps / sfb, 2)})
    return out


def busiest_node_lines(runs) -> list:
    """PS against SFB by the bytes through the busiest node per iteration, measured: under
    PS the one server (every worker's push and pull), under SFB any worker (its factors
    to and from each peer). Poseidon's cost model with one server predicts this ratio."""
    lines = []
    for ps in (r for r in runs if r["scheme"] == "ps" and r["server_bytes_per_iteration"]):
        for sfb in (r for r in runs if r["scheme"] == "sfb" and r["workers"] == ps["workers"]
                    and r["consistency"] == ps["consistency"]):
            busiest_ps = max(ps["server_bytes_per_iteration"], ps["bytes_per_worker_iteration"])
            busiest_sfb = max(sfb["bytes_per_worker_iteration"], sfb["server_bytes_per_iteration"] or 0)
            lines.append(f"busiest node per iteration, {ps['workers']} workers {ps['consistency']}: "
                         f"PS {busiest_ps / 1e6:.2f} MB (the server) vs SFB {busiest_sfb / 1e6:.3f} MB (a worker) "
                         f"-> {busiest_ps / busiest_sfb:.1f}x fewer; per worker "
                         f"{ps['bytes_per_worker_iteration'] / sfb['bytes_per_worker_iteration']:.1f}x")
    return lines


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot")
        return
    p = [r["workers"] for r in rows]
    plt.figure(figsize=(5, 3.5))
    plt.loglog(p, [r["ps_bytes_per_machine"] for r in rows], "o-", label="PS")
    plt.loglog(p, [r["sfb_bytes_per_machine"] for r in rows], "s-", label="SFB (K=16)")
    plt.xlabel("workers (= server shards)")
    plt.ylabel("bytes per machine per iteration")
    plt.title("1024 x 1024 layer, Poseidon cost model")
    plt.legend()
    plt.tight_layout()
    plt.savefig(path, dpi=120)
    print(f"plot: {path}")


def plot_throughput(runs, path, model):
    """Samples/s against workers, one line per consistency and scheme (medians of repeats),
    beside the ideal of the cores present: one worker's rate x min(W, cores)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    series: dict = {}
    for r in runs:
        series.setdefault((r["consistency"], r["scheme"]), {}).setdefault(r["workers"], []).append(
            r["samples_per_second"])
    if not any(len(points) > 1 for points in series.values()):
        return  # one worker count: nothing to plot against
    plt.figure(figsize=(5.5, 3.8))
    for (consistency, scheme), points in sorted(series.items()):
        ws = sorted(points)
        plt.plot(ws, [float(np.median(points[w])) for w in ws], "o-", label=f"{consistency} {scheme}")
    one = [float(np.median(p[1])) for p in series.values() if 1 in p]
    if one:
        ws = sorted({w for p in series.values() for w in p})
        cores = os.cpu_count() or 1
        plt.plot(ws, [np.mean(one) * min(w, cores) for w in ws], "k--", label=f"1 worker x min(W, {cores} cores)")
    plt.xlabel("workers")
    plt.ylabel("samples per second")
    plt.title(f"dynagraph.distributed, model {model}")
    plt.xticks(sorted({w for p in series.values() for w in p}))
    plt.legend(fontsize=7)
    plt.tight_layout()
    plt.savefig(path, dpi=120)
    print(f"plot: {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--consistency", nargs="+", default=["bsp", "ssp", "asp"])
    ap.add_argument("--scheme", nargs="+", default=["ps", "sfb", "hybrid"],
                    choices=["ps", "sfb", "hybrid", "hybrid-bytes"],
                    help="hybrid-bytes: hybrid by Poseidon's rule on bytes alone (hybrid weighs them with the "
                         "measured link)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--model", choices=sorted(MODELS), default="mlp", help="see above")
    ap.add_argument("--batch", type=int, default=None, help="samples per worker-iteration (default: 16 mlp, 1024 rnn)")
    ap.add_argument("--samples-per-worker", type=int, default=None, help="default: 320 mlp, 8192 rnn")
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--out", default="runs/bench-distributed")
    ap.add_argument("--projection-only", action="store_true")
    args = ap.parse_args(argv)
    args.batch = args.batch or (1024 if args.model == "rnn" else 16)
    args.samples_per_worker = args.samples_per_worker or (8192 if args.model == "rnn" else 320)
    os.makedirs(args.out, exist_ok=True)

    m, n, k = 1024, 1024, 16
    print(f"1024 x 1024 layer, K = {k}, 8 workers:")
    print(f"  one message: PS {m * n * 4 / 1e6:.2f} MB vs SFB {k * (m + n) * 4 / 1e6:.3f} MB "
          f"-> {m * n / (k * (m + n)):.0f}x fewer bytes")
    print(f"  per machine (Poseidon, co-located servers): "
          f"{cost_model.ps_cost(m, n, 8, 8) / cost_model.sfb_cost(m, n, k, 8):.1f}x")
    print(f"  per dynagraph worker (push+pull vs 7 sends+7 receives): "
          f"{cost_model.worker_values('ps', m, n, k, 8) / cost_model.worker_values('sfb', m, n, k, 8):.1f}x")
    proj = projection(m, n, k)
    for r in proj:
        print(f"  P={r['workers']:4d}: PS {r['ps_bytes_per_machine'] / 1e6:8.2f} MB  "
              f"SFB {r['sfb_bytes_per_machine'] / 1e6:8.2f} MB  best={r['best']}")
    plot(proj, os.path.join(args.out, "projection.png"))
    results = {"model": args.model, "batch": args.batch, "projection": proj, "runs": []}
    if not args.projection_only:
        dd.connect(num_cpus=args.num_cpus)
        if any(s.startswith("hybrid") for s in args.scheme):
            link = dd.measure_link()
            results["link"] = {"latency_s": link.latency, "bandwidth_bytes_per_s": link.bandwidth}
            print(f"measured link: {link.latency * 1e3:.2f} ms round trip, {link.bandwidth / 1e6:.0f} MB/s")
        for w in args.workers:
            for c in args.consistency:
                for s in args.scheme:
                    t0 = time.perf_counter()
                    r = run_one(w, c, s, args.epochs, args.batch, args.samples_per_worker, args.model)
                    results["runs"].append(r)
                    print(f"workers={w} {c:3s} {s:12s}: {r['samples_per_second']:7.1f} samples/s, "
                          f"{r['bytes_per_worker_iteration'] / 1e3:7.1f} kB per worker-iteration, "
                          f"replicated {r['replicated'] or '-'} ({time.perf_counter() - t0:.1f}s)", flush=True)
                    if r["trial"]:
                        print("    trial, ms per iteration: " + ", ".join(
                            f"{'+'.join(t['replicated']) or 'PS'} {t['seconds_per_iteration'] * 1e3:.0f}"
                            for t in r["trial"]), flush=True)
        for line in busiest_node_lines(results["runs"]):
            print(line)
        plot_throughput(results["runs"], os.path.join(args.out, "throughput.png"), args.model)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"results: {os.path.join(args.out, 'results.json')}")


if __name__ == "__main__":
    main()
