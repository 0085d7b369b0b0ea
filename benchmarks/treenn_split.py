"""Where one autobatched Tree-LSTM training graph spends its time, robust to a shared box.

    python benchmarks/treenn_split.py TREES [PASSES]

Trains on the first 512 SST sentences, TREES trees per graph, one thread, and times each
graph's phases: construction (Python), forward, backward, update. Each graph's phase
keeps its least time over PASSES passes (after one warm-up pass): other processes only
ever add time, so the minimum is the least disturbed figure. Prints microseconds per
sentence per phase and the rate they add up to. To compare builds, alternate them in one
sitting (e.g. swap `_core*.so`) and take the median over the alternations.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

common.dynagraph_on_path()
import dynagraph as dy  # noqa: E402
from dynagraph import _core  # noqa: E402

import treenn  # noqa: E402


def main() -> None:
    per = int(sys.argv[1])
    passes = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    data, vocab = treenn.encode_trees(common.find_data("sst") / "train.txt", 512)
    _core.set_autobatch(True)
    model = treenn.dynet_model(dy, vocab)
    loss_of, train_batch = model["loss_of"], model["train_batch"]
    trainer = dict(zip(train_batch.__code__.co_freevars,
                       (c.cell_contents for c in train_batch.__closure__)))["trainer"]
    sys.setrecursionlimit(10000)
    batches = [data[i:i + per] for i in range(0, len(data), per)]
    phases = ("build", "forward", "backward", "update")
    least = {k: [float("inf")] * len(batches) for k in phases}
    for p in range(passes + 1):
        for i, batch in enumerate(batches):
            dy.renew_cg()
            t = [time.perf_counter()]
            loss = dy.esum([loss_of(label, tree) for label, tree in batch])
            t.append(time.perf_counter())
            loss.scalar_value()
            t.append(time.perf_counter())
            loss.backward()
            t.append(time.perf_counter())
            trainer.update()
            t.append(time.perf_counter())
            if p:  # the first pass warms up
                for k, a, z in zip(phases, t, t[1:]):
                    least[k][i] = min(least[k][i], z - a)
    n = sum(len(b) for b in batches)
    us = {k: sum(v) / n * 1e6 for k, v in least.items()}
    total = sum(us.values())
    print(f"{per} trees: " + "  ".join(f"{k} {v:.1f}" for k, v in us.items())
          + f"  total {total:.1f} us/sentence = {1e6 / total:.0f} sent/s")


if __name__ == "__main__":
    main()
