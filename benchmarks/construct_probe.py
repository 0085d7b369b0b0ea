"""Python graph construction alone, in CPU time per node (issue 26): build graphs, evaluate nothing.

    python benchmarks/construct_probe.py treenn [--per 64] [--sentences 512] [--passes 7]
        treenn.py's Tree-LSTM (emb/hid 128), PER trees per graph on the first SENTENCES SST
        training trees: ns per node (the graph's own node count) and µs per sentence.
    python benchmarks/construct_probe.py chain [--dim 32] [--steps 50] [--passes 7]
        graph_overhead's chain (tanh(W*h + b) steps and a dot_product loss), ns per node.
    python benchmarks/construct_probe.py calls [--passes 7]
        ns per call of each expression function the models above call, each in a graph of
        2,000 such calls (the Python loop included: compare builds, not calls).

--lib dynet runs treenn and chain on DyNet (dynet38) for comparison; its node count per
sentence is taken to be dynagraph's (the same program), as graph_overhead.py does.

Process CPU time, best of PASSES; one line per measurement. To compare two builds, alternate
them as treenn_cpu.py describes (PYTHONPATH=<copy of a build's package>).
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def best_of(passes: int, step) -> float:
    best = float("inf")
    for _ in range(passes):
        c0 = time.process_time()
        step()
        best = min(best, time.process_time() - c0)
    return best


def node_count(dy, fallback: int) -> int:
    core = getattr(dy, "_core", None)  # dynagraph; DyNet: the same program's count
    return core.graph_size() if core else fallback


TREENN_NODES = {"leaf": 13, "inner": 23, "root": 3}  # dynagraph's nodes per leaf, inner node and tree


def treenn_nodes(tree) -> int:
    if isinstance(tree, int):
        return TREENN_NODES["leaf"]
    return TREENN_NODES["inner"] + treenn_nodes(tree[0]) + treenn_nodes(tree[1])


def treenn_construct(dy, per: int, sentences: int, passes: int) -> str:
    import treenn
    data, vocab = treenn.encode_trees(common.find_data("sst") / "train.txt", sentences)
    sys.setrecursionlimit(10000)
    model = treenn.dynet_model(dy, vocab)
    loss_of = model["loss_of"]
    batches = [data[i:i + per] for i in range(0, len(data), per)]
    nodes = 0
    for b in batches:
        dy.renew_cg()
        dy.esum([loss_of(label, tree) for label, tree in b])
        # per tree its nodes, V*h + b and pickneglogsoftmax; per graph 18 parameters and esum
        nodes += node_count(dy, sum(treenn_nodes(t) + TREENN_NODES["root"] for _, t in b) + 18 + 1)

    def build_all():
        for b in batches:
            dy.renew_cg()
            dy.esum([loss_of(label, tree) for label, tree in b])

    t = best_of(passes, build_all)
    return (f"treenn construct {per}/graph: {t * 1e9 / nodes:.0f} ns/node, {t * 1e6 / len(data):.1f} µs/sentence "
            f"({nodes / len(data):.1f} nodes/sentence)")


def chain_construct(dy, dim: int, steps: int, passes: int) -> str:
    import graph_overhead
    build = graph_overhead.dynet_like_steps(dy, dim, steps)["construct"]
    build()
    nodes = node_count(dy, graph_overhead.node_count(steps))
    graphs = max(1, 200_000 // nodes)

    def many():
        for _ in range(graphs):
            build()

    t = best_of(passes, many)
    return f"chain construct dim {dim}: {t * 1e9 / (graphs * nodes):.0f} ns/node ({nodes} nodes/graph)"


def calls(dy, passes: int) -> str:
    m = dy.ParameterCollection()
    E = m.add_lookup_parameters((100, 8))
    W = m.add_parameters((8, 16))
    b = m.add_parameters(8)
    n = 2000
    out = []

    def measure(name, setup, call):
        def one():
            dy.renew_cg()
            args = setup()
            for _ in range(n):
                call(*args)
        t = best_of(passes, one)
        out.append(f"{name} {t * 1e9 / n:.0f}")

    vec = lambda: (dy.inputVector([0.5] * 8),)  # noqa: E731
    two = lambda: (dy.inputVector([0.5] * 8), dy.inputVector([0.25] * 8))  # noqa: E731
    measure("lookup", lambda: (), lambda: dy.lookup(E, 3))
    measure("E[i]", lambda: (), lambda: E[3])
    measure("concatenate", two, lambda x, y: dy.concatenate([x, y]))
    measure("W*x", lambda: (dy.inputVector([0.5] * 16),), lambda x: W * x)
    measure("x+b", vec, lambda x: x + b)
    measure("x+y", two, lambda x, y: x + y)
    measure("logistic", vec, lambda x: dy.logistic(x))
    measure("cmult", two, lambda x, y: dy.cmult(x, y))
    measure("parameter", lambda: (), lambda: dy.parameter(W))
    measure("pickneglogsoftmax", vec, lambda x: dy.pickneglogsoftmax(x, 3))
    measure("pick_range", vec, lambda x: dy.pick_range(x, 2, 6))
    measure("affine_transform", lambda: (dy.inputVector([0.5] * 16),), lambda x: dy.affine_transform([b, W, x]))
    measure("esum2", two, lambda x, y: dy.esum([x, y]))
    measure("noop", lambda: (), lambda: None)
    return "calls ns/call: " + ", ".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["treenn", "chain", "calls"])
    ap.add_argument("--per", type=int, nargs="+", default=[64])
    ap.add_argument("--sentences", type=int, default=512)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--lib", choices=["dynagraph", "dynet"], default="dynagraph")
    a = ap.parse_args(argv)
    dy = common.import_library(a.lib, autobatch=True)
    lines = [f"{a.lib}, load {os.getloadavg()[0]:.2f}"]
    if a.what == "treenn":
        lines += [treenn_construct(dy, per, a.sentences, a.passes) for per in a.per]
    elif a.what == "chain":
        lines.append(chain_construct(dy, a.dim, a.steps, a.passes))
    else:
        lines.append(calls(dy, a.passes))
    print("; ".join(lines), flush=True)


if __name__ == "__main__":
    main()
