"""Autobatched treenn training in sentences per CPU-second, for A/B runs of two builds (issue 26).

The model of treenn.py (Tree-LSTM, emb/hid 128, SimpleSGD) on the first SENTENCES SST training
trees, one graph and update per PER trees, one thread; best of PASSES timed passes after one
warm-up pass, per size. Prints one line per run. To compare two builds, copy each build's
`dynagraph` package (its Python files and _core*.so) into its own folder and alternate:

    for r in 1 2 3 4 5; do for v in /tmp/a /tmp/b; do
      PYTHONPATH=$v:$VENV_SITE_PACKAGES OPENBLAS_NUM_THREADS=1 python -S benchmarks/treenn_cpu.py
    done; done

    python benchmarks/treenn_cpu.py [--sizes 16 64 256] [--sentences 512] [--passes 3] [--phases]

--phases adds one profiled pass per size: microseconds per sentence in each executor phase
(dy.set_autobatch_profiling; wall clock, so only meaningful on a quiet machine).
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import treenn  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--sentences", type=int, default=512)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--phases", action="store_true")
    ap.add_argument("--data-dir", default=None, help="SST folder (default $DYNAGRAPH_SST_DIR, else ../shared/data/sst beside the checkout)")
    args = ap.parse_args(argv)
    try:
        train_file = common.find_data("sst", args.data_dir) / "train.txt"
    except FileNotFoundError as e:  # DatasetMissing: says what is missing and where to get it
        print(f"treenn_cpu: {e}; skipped")
        return
    data, vocab = treenn.encode_trees(train_file, args.sentences)
    dy = common.import_library("dynagraph", autobatch=True)
    sys.setrecursionlimit(10000)
    train = treenn.dynet_model(dy, vocab)["train_batch"]
    out = [f"load {os.getloadavg()[0]:.2f}"]
    for per in args.sizes:
        batches = [data[i:i + per] for i in range(0, len(data), per)]
        for b in batches:  # warm-up: pools and scratch reach their size
            train(b)
        best = float("inf")
        for _ in range(args.passes):
            c0 = time.process_time()
            for b in batches:
                train(b)
            best = min(best, time.process_time() - c0)
        line = f"{per}/graph {len(data) / best:.0f} sent/cpu-s"
        if args.phases:
            dy.set_autobatch_profiling(True)
            for b in batches:
                train(b)
            phases = dy.autobatch_stats()["phase_ns"]
            dy.set_autobatch_profiling(False)
            line += " (" + " ".join(f"{k} {v / 1000 / len(data):.1f}" for k, v in phases.items()) + " µs/sent)"
        out.append(line)
    print("; ".join(out), flush=True)


if __name__ == "__main__":
    main()
