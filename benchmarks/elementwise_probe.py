"""What one autobatched element-wise group costs per element, forward and backward (issue 26).

MEMBERS chains (default 1,024) of K (default 8) applications of one op to a 128-float lookup, so each
op runs as K groups of MEMBERS members; the executor's phase timers (dy.set_autobatch_profiling) give
the kernels' time, the median of REPS graphs. Prints nanoseconds per element per group, forward
(fwd_kernel) and backward (bwd_kernel + bwd_memset: zeroing gradient blocks belongs to their cost).
Wall-clock timers: meaningful on a quiet machine only; one BLAS thread.

    OPENBLAS_NUM_THREADS=1 python benchmarks/elementwise_probe.py [--members 1024] [--k 8] [--reps 5] [OP ...]
"""
import argparse

import numpy as np

import dynagraph as dy

DIM = 128
OPS = {
    "tanh": lambda x, y: dy.tanh(x),
    "logistic": lambda x, y: dy.logistic(x),
    "cmult": lambda x, y: dy.cmult(x, y),
    "add": lambda x, y: x + y,
    "mul_scalar": lambda x, y: x * 0.5,
    "rectify": lambda x, y: dy.rectify(x),
    "exp": lambda x, y: dy.exp(x),
}


def run(op, members, k, E, F):
    dy.renew_cg(autobatching=True)
    losses = []
    for t in range(members):
        x, y = dy.lookup(E, t), dy.lookup(F, t)
        for _ in range(k):
            x = op(x, y)
        losses.append(dy.sum_elems(x))
    loss = dy.esum(losses)
    dy.set_autobatch_profiling(True)
    loss.value()
    loss.backward()
    ph = dy.autobatch_stats()["phase_ns"]
    dy.set_autobatch_profiling(False)
    return ph["fwd_kernel"], ph["bwd_kernel"] + ph["bwd_memset"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ops", nargs="*", help="ops to probe (default all): " + " ".join(OPS))
    ap.add_argument("--members", type=int, default=1024)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    unknown = [o for o in args.ops if o not in OPS]
    if unknown:
        ap.error(f"unknown ops {unknown}; choose from {list(OPS)}")
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((args.members, DIM))
    F = pc.add_lookup_parameters((args.members, DIM))
    elems = args.k * args.members * DIM
    for name in args.ops or OPS:
        fwd, bwd = np.median([run(OPS[name], args.members, args.k, E, F) for _ in range(args.reps)], axis=0)
        print(f"{name:10s} ns/element per group: forward {fwd / elems:.3f}  backward {bwd / elems:.3f}", flush=True)


if __name__ == "__main__":
    main()
