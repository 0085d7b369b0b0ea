"""Training under a device memory budget (docs/memory.md): throughput and bytes
moved at 100 / 50 / 25 / 10 % of a graph's unconstrained peak, for swapping and
for recomputation, with prefetching (K nodes ahead on the device's copy stream)
on and off: prefetches that had arrived when needed (hits) and those the
compute waited for (stalls).

The model is an RNN language model (rnnlm-like) over minibatches of BATCH
sentences of SEQ words: h = tanh(Wx e_w + Wh h + b), a softmax over the
vocabulary per word, the summed loss, backward and an SGD update; one graph
per minibatch on the device, whose activations (a BATCH-column softmax per
word) outweigh the parameters. The unconstrained peak is the most graph memory (values, gradients,
scratch) the graph holds at once with nothing moved; each budget is a
fraction of it. A budget below what one node needs at once raises MemoryError
("does not fit"). On EMU:0 a "transfer" is a host memcpy and a kernel a host
loop: the figures show what the schedule moves and what it costs on the host,
not a GPU's overlap of copies with compute (EMU:0's copy stream is a worker
thread doing memcpy beside the host's compute, on a 2-core machine shared with
the compute itself). Parameters count against the budget; where they take more
than half of it the largest stream from the host ("stream" column; the last
column: how many parameters stream, and their first copies per minibatch
prefetched ahead of their nodes).

With --autobatch each minibatch is BATCH separate sentences in one graph,
run by both executors at the same budgets (percentages of the autobatched
run's peak, the smaller one): node by node (renew_cg(autobatching=False))
and by the autobatching executor, which batches the sentences back into
groups; under a budget the swap plan then schedules by groups ("unbatched"
column: groups per minibatch whose working set did not fit and ran node by
node). A budget too small for some node says which node, and what held the
rest of the budget, in place of the figures.

    python benchmarks/device_memory.py                 # EMU:0
    python benchmarks/device_memory.py --autobatch     # the same, sentence by sentence, autobatched
    python benchmarks/device_memory.py --device GPU:0  # a CUDA build on a GPU

With --scale the cost per node against the graph's size: one graph of 4, 8, 16
and 32 separate sentences (about 1k to 8.7k nodes), both executors, at 100 % and
25 % of each graph's peak (swap, K = 4): the schedule's build time per node
(`schedule_ns / schedule_nodes`), the plan's visits per node, and the whole
training step's time per node.

    python benchmarks/device_memory.py --scale
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

common.dynagraph_on_path()
import dynagraph as dy  # noqa: E402


def run(device, budget, policy, sentences, hidden, vocab, seq, batch, prefetch=4, autobatch=False,
        per_sentence=None):
    """per_sentence: the graph of BATCH separate sentences (default: when autobatching),
    else one graph of minibatched lookups; autobatch picks the executor."""
    per_sentence = autobatch if per_sentence is None else per_sentence
    dy.init(seed=1, device=device, device_mem=budget, memory_policy=policy, prefetch=prefetch)
    dy.renew_cg(autobatching=autobatch)
    rng = np.random.default_rng(0)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((vocab, hidden))
    Wx, Wh = pc.add_parameters((hidden, hidden)), pc.add_parameters((hidden, hidden))
    b, Wy, by = pc.add_parameters((hidden,)), pc.add_parameters((vocab, hidden)), pc.add_parameters((vocab,))
    trainer = dy.SimpleSGDTrainer(pc, learning_rate=0.05)
    data = [rng.integers(0, vocab, (seq + 1, batch)) for _ in range(sentences + 1)]

    def sentence_losses(sent):  # one sentence (autobatch): the executor groups the sentences' nodes
        h = dy.zeros(hidden)
        for w, nxt in zip(sent[:-1], sent[1:]):
            h = dy.tanh(Wx * E[int(w)] + Wh * h + b)
            yield dy.pickneglogsoftmax(Wy * h + by, int(nxt))

    def step(sents):
        dy.renew_cg(autobatching=autobatch)
        if per_sentence:
            loss = dy.esum([l for c in range(batch) for l in sentence_losses(sents[:, c])])
            loss.value()
            loss.backward()
            trainer.update()
            return
        h = dy.zeros(hidden)
        losses = []
        for w, nxt in zip(sents[:-1], sents[1:]):
            h = dy.tanh(Wx * dy.lookup_batch(E, [int(i) for i in w]) + Wh * h + b)
            losses.append(dy.pickneglogsoftmax_batch(Wy * h + by, [int(i) for i in nxt]))
        loss = dy.sum_batches(dy.esum(losses))
        loss.value()
        loss.backward()
        trainer.update()

    step(data[-1])  # warm-up: pools and the budget's region
    dy.reset_device_memory_stats(device)
    start = time.perf_counter()
    for sent in data[:sentences]:
        step(sent)
    elapsed = time.perf_counter() - start
    s = dy.device_memory_stats(device)
    s["per_s"] = sentences / elapsed
    return s


NEED = re.compile(r"exceeded: (\d+) bytes needed for node (\d+) \(([a-z_0-9]+), shape (\S+)\)")
PART = re.compile(r"(\d+) bytes (?:\([0-9.]+ MiB\) )?(held by|by the parameters|by ops' scratch|by their second|by the running)")
LARGEST = re.compile(r"largest free block is (\d+) bytes")


def why(err):
    """What the MemoryError says about the node that did not fit, in short."""
    msg = str(err)
    need, largest = NEED.search(msg), LARGEST.search(msg)
    if not need:
        return msg[:120]
    parts = {p[1]: int(p[0]) / 1024 for p in PART.findall(msg)}
    held, params, scratch = (parts.get(k, 0) for k in ("held by", "by the parameters", "by ops' scratch"))
    free = int(largest[1]) / 1024 if largest else 0
    return (f"node {need[2]} ({need[3]} {need[4]}) needs {int(need[1]) / 1024:.1f} KiB; held for it {held:.1f}, "
            f"params {params:.1f}, scratch {scratch:.1f} KiB; largest free {free:.1f} KiB")


def scale(a):
    rows = []
    for name, ab in (("per node", False), ("autobatched", True)):
        for batch in (4, 8, 16, 32):
            args = (2, a.hidden, a.vocab, a.seq, batch)
            peak = run(a.device, 1 << 31, "auto", 1, a.hidden, a.vocab, a.seq, batch, autobatch=ab,
                       per_sentence=True)["peak_bytes"]
            for pct in (100, 25):
                s = run(a.device, peak * pct // 100 // 256 * 256, "swap", *args, autobatch=ab, per_sentence=True)
                nodes = s["schedule_nodes"] // 2
                rows.append([name, str(batch), str(nodes), f"{pct} %",
                             f"{s['schedule_ns'] / max(1, s['schedule_nodes']):.0f}",
                             f"{s['plan_visits'] / max(1, s['schedule_nodes']):.1f}",
                             f"{1e6 / s['per_s'] / max(1, nodes):.1f}", str(s["swaps_out"] // 2),
                             str(s["groups_unbatched"] // 2)])
            print(common.format_table(["executor", "sentences", "nodes", "budget", "schedule ns/node",
                                       "visits/node", "us/node", "swaps out", "unbatched"], rows[-2:]), flush=True)
    print(common.format_table(["executor", "sentences", "nodes", "budget", "schedule ns/node", "visits/node",
                               "us/node", "swaps out", "unbatched"], rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="EMU:0")
    ap.add_argument("--sentences", type=int, default=10, help="minibatches timed")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=500)
    ap.add_argument("--seq", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="fewer sentences, smaller model")
    ap.add_argument("--autobatch", action="store_true",
                    help="sentence by sentence: both executors, per node and autobatched")
    ap.add_argument("--scale", action="store_true", help="cost per node against the graph's size")
    a = ap.parse_args()
    if a.scale:
        print(common.machine_line())
        scale(a)
        dy.init(device_mem=0)
        return
    if a.quick:
        a.sentences, a.hidden, a.vocab, a.seq, a.batch = 4, 64, 200, 12, 16
    args = (a.sentences, a.hidden, a.vocab, a.seq, a.batch)
    print(common.machine_line())
    print(f"device {a.device}; rnnlm-like: hidden {a.hidden}, vocab {a.vocab}, {a.seq} words per sentence, "
          f"minibatch {a.batch}, {a.sentences} minibatches timed" +
          (", one graph of separate sentences" if a.autobatch else ", one graph of minibatched lookups"))
    big = 1 << 34 if a.device != "EMU:0" else 1 << 31
    executors = (("per node", False), ("autobatched", True)) if a.autobatch else (("per node", False),)
    ps = {"per_sentence": a.autobatch}
    base, peaks = {}, {}
    for name, ab in executors:
        base[name] = run(a.device, 0, "auto", *args, autobatch=ab, **ps)
        peaks[name] = run(a.device, big, "auto", *args, autobatch=ab, **ps)["peak_bytes"]
        print(f"{name}, no budget: {base[name]['per_s']:.2f} minibatches/s; "
              f"unconstrained peak {peaks[name] / 2**20:.2f} MiB")
    peak = min(peaks.values())  # the budgets: fractions of the smaller peak, the same for both executors
    rows, reasons = [], []
    settings = ((("swap", 4), ("recompute", 4)) if a.autobatch else
                (("swap", 0), ("swap", 4), ("recompute", 0), ("recompute", 4)))
    for name, ab in executors:
        for policy, prefetch in settings:
            for pct in (100, 50, 25, 10):
                budget = max(256, peak * pct // 100 // 256 * 256)
                head = [name, policy, str(prefetch), f"{pct} %", f"{budget / 2**20:.2f}"]
                try:
                    s = run(a.device, budget, policy, *args, prefetch=prefetch, autobatch=ab, **ps)
                except MemoryError as e:
                    reasons.append(f"  {name}, {policy}, {pct} %: {why(e)}")
                    rows.append(head + ["does not fit (below)"] + ["-"] * 10)
                    continue
                moved = (s["to_host_bytes"] + s["to_device_bytes"]) / a.sentences / 2**20
                rows.append(head + [f"{s['per_s']:.2f}", f"{s['per_s'] / base[name]['per_s']:.2f}",
                                    f"{s['peak_bytes'] / 2**20:.2f}", f"{moved:.2f}",
                                    str(s["recomputes"] // a.sentences), str(s["prefetch_hits"] // a.sentences),
                                    str(s["prefetch_stalls"] // a.sentences), "yes" if s["params_stream"] else "no",
                                    str(s["groups_unbatched"] // a.sentences),
                                    str(s["regathers"] // a.sentences),
                                    f"{s['params_streaming']} ({s['param_prefetches'] // a.sentences})"])
    print(common.format_table(["executor", "policy", "K", "budget", "MiB", "batches/s", "vs none", "peak MiB",
                               "moved MiB/batch", "recomputes/batch", "hits/batch", "stalls/batch", "stream",
                               "unbatched/batch", "regathers/batch", "streaming (prefetched/batch)"], rows))
    if reasons:
        print("budgets that did not fit (the node whose operands did not fit, and what else held the budget):")
        print("\n".join(reasons))
    for name, ab in executors:
        sched = run(a.device, peak, "swap", *args, autobatch=ab, **ps)
        if sched["schedule_nodes"]:
            print(f"schedule ({name}): {sched['schedule_ns'] / sched['schedule_nodes']:.0f} ns per node to build "
                  f"({sched['schedule_nodes'] // a.sentences} nodes per graph)")
    dy.init(device_mem=0)


if __name__ == "__main__":
    main()
