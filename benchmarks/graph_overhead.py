"""Per-node graph overhead: dynagraph vs DyNet vs PyTorch eager (issue 3).

Per sample: a fresh graph holding a chain of STEPS steps ``h = tanh(W*h + b)``
from an input vector, the scalar loss ``dot_product(h, h)``, forward, backward
and a SimpleSGD update (no gradient clipping). Time is reported in microseconds per graph node, where
the node count is the program's as DyNet builds it (3*STEPS + 4: input, W, b,
then matmul/add/tanh per step, then the loss); the same count divides every
library's time. (dynagraph builds STEPS + 4: each ``tanh(W*h + b)`` is one
affine_transform node with tanh folded in, docs/index.md; its figures stay per node of
the program.)

Phases (each timed separately, per sample):
  construct   renew the graph and build all nodes, evaluate nothing
              (isolates Python -> C++ call overhead; not applicable to PyTorch
              eager, which computes as it builds)
  forward     construct + evaluate the loss
  train       construct + forward + backward + trainer update

Each library runs in its own subprocess (PyTorch limited to one thread, as
DyNet and dynagraph are single-threaded). Run:

    python benchmarks/graph_overhead.py            # dims 32 and 256, full run
    python benchmarks/graph_overhead.py --quick    # fewer repeats
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PHASES = ("construct", "forward", "train")
LIB_TITLES = {"dynagraph": "dynagraph", "dynet": "DyNet", "torch": "PyTorch"}


def node_count(steps: int) -> int:
    return 3 * steps + 4


# ---------------------------------------------------------------- workers

def dynet_like_steps(dy, dim: int, steps: int):
    """Phase callables for DyNet and dynagraph (the same program for both)."""
    m = dy.ParameterCollection()
    W = m.add_parameters((dim, dim))
    b = m.add_parameters(dim)
    trainer = dy.SimpleSGDTrainer(m, 0.01)
    trainer.set_clip_threshold(0)  # no clipping: the same update as torch.optim.SGD
    rnd = random.Random(7)
    x = [rnd.uniform(-1.0, 1.0) for _ in range(dim)]

    def build():
        dy.renew_cg()
        We = dy.parameter(W)
        be = dy.parameter(b)
        h = dy.inputVector(x)
        for _ in range(steps):
            h = dy.tanh(We * h + be)
        return dy.dot_product(h, h)

    def forward():
        build().scalar_value()

    def train():
        loss = build()
        loss.scalar_value()
        loss.backward()
        trainer.update()

    # DyNet frees the parameters with their collection: keep `m` alive with the closures.
    return {"construct": build, "forward": forward, "train": train, "_keep": m}


def torch_steps(torch, dim: int, steps: int):
    rnd = random.Random(7)
    scale = (6.0 / (2 * dim)) ** 0.5
    W = torch.nn.Parameter(torch.empty(dim, dim).uniform_(-scale, scale))
    b = torch.nn.Parameter(torch.empty(dim).uniform_(-(3.0 / dim) ** 0.5, (3.0 / dim) ** 0.5))
    opt = torch.optim.SGD([W, b], lr=0.01)
    x = torch.tensor([rnd.uniform(-1.0, 1.0) for _ in range(dim)])

    def build():
        h = x
        for _ in range(steps):
            h = torch.tanh(W @ h + b)
        return torch.dot(h, h)

    def forward():
        build().item()

    def train():
        loss = build()
        loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"forward": forward, "train": train, "_keep": opt}


def worker(lib: str, dim: int, steps: int, repeats: int, target_s: float) -> None:
    mod = common.import_library(lib)
    phases = torch_steps(mod, dim, steps) if lib == "torch" else dynet_like_steps(mod, dim, steps)
    nodes = node_count(steps)
    if lib == "dynagraph":
        phases["construct"]()
        built = mod._core.graph_size()
        merged = (node_count(steps), 2 * steps + 4, steps + 4)  # as written; W*h + b merged; tanh folded too
        assert built in merged, f"expected one of {merged} nodes, graph has {built}"
    for phase in PHASES:
        if phase not in phases:
            continue
        per_sample, iters = common.time_blocks(phases[phase], target_s=target_s, repeats=repeats)
        common.emit({"lib": lib, "dim": dim, "phase": phase, "nodes": nodes, "iters": iters,
                     "sec_per_sample": per_sample})


# ---------------------------------------------------------------- parent

def run(dims=(32, 256), steps: int = 50, libs=common.LIBS, rounds: int = 2, repeats: int = 5,
        target_s: float = 0.2) -> str:
    """Runs every (library, dim) worker ``rounds`` times, interleaved; returns the report text."""
    script = Path(__file__).resolve()
    blocks: dict[tuple, list[float]] = {}
    rss: dict[tuple, float] = {}
    errors: list[str] = []
    for _ in range(rounds):
        for dim in dims:
            for lib in libs:
                args = ["--worker", lib, "--dim", str(dim), "--steps", str(steps), "--repeats", str(repeats),
                        "--target", str(target_s)]
                for r in common.run_worker(script, args):
                    if "error" in r:
                        errors.append(r["error"])
                        continue
                    blocks.setdefault((lib, dim, r["phase"]), []).extend(r["sec_per_sample"])
                    rss[(lib, dim)] = max(rss.get((lib, dim), 0.0), r["peak_rss_mb"])

    nodes = node_count(steps)

    def us_node(lib, dim, phase):
        xs = blocks.get((lib, dim, phase))
        return common.median(xs) * 1e6 / nodes if xs else None

    def spread(lib, dim, phase):
        xs = blocks.get((lib, dim, phase))
        if not xs or len(xs) < 2:
            return ""
        m = common.median(xs)
        return f" ±{100 * (max(xs) - min(xs)) / (2 * m):.0f}%"

    headers = ["dim", "phase"] + [f"{LIB_TITLES[l]} µs/node" for l in libs]
    peers = [l for l in libs if l != "dynagraph"]
    if "dynagraph" in libs:
        headers += [f"vs {LIB_TITLES[p]}" for p in peers]
    rows = []
    for dim in dims:
        for phase in PHASES:
            row = [dim, phase]
            for lib in libs:
                v = us_node(lib, dim, phase)
                row.append("n/a" if v is None else common.fmt_num(v) + spread(lib, dim, phase))
            if "dynagraph" in libs:
                ours = us_node("dynagraph", dim, phase)
                row += [common.ratio(us_node(p, dim, phase), ours) for p in peers]
            rows.append(row)
    out = [f"graph_overhead: {steps}-step tanh(W*h+b) chain + dot_product loss, {nodes} nodes/sample, "
           f"SimpleSGD; median of {rounds}x{repeats} blocks (± = half the min-max range)",
           common.machine_line(), "",
           common.format_table(headers, rows), "",
           "'vs X' = X's time / dynagraph's time (>1: dynagraph faster). "
           "PyTorch eager has no lazy construction phase.",
           "peak RSS (MiB): " + ", ".join(f"{LIB_TITLES[l]}@{d}={rss[(l, d)]:.0f}"
                                           for d in dims for l in libs if (l, d) in rss)]
    for dim in dims:
        train = [f"{LIB_TITLES[l]} {us_node(l, dim, 'train') * nodes:.0f}"
                 for l in libs if us_node(l, dim, "train")]
        out.append(f"µs per training sample at dim {dim}: " + ", ".join(train))
    if errors:
        out += ["", "errors:"] + [f"  {e}" for e in errors]
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=common.LIBS, help=argparse.SUPPRESS)
    ap.add_argument("--dim", type=int, default=32, help=argparse.SUPPRESS)
    ap.add_argument("--dims", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--libs", nargs="+", choices=common.LIBS, default=list(common.LIBS))
    ap.add_argument("--rounds", type=int, default=2, help="interleaved runs of every worker")
    ap.add_argument("--repeats", type=int, default=5, help="timed blocks per worker and phase")
    ap.add_argument("--target", type=float, default=0.2, help="seconds per timed block")
    ap.add_argument("--quick", action="store_true", help="1 round, 3 blocks of 0.1 s")
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.dim, a.steps, a.repeats, a.target)
        return
    if a.quick:
        a.rounds, a.repeats, a.target = 1, 3, 0.1
    print(run(tuple(a.dims), a.steps, tuple(a.libs), a.rounds, a.repeats, a.target))


if __name__ == "__main__":
    main()
