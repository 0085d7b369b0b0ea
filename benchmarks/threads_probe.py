"""dynagraph's threads (issue 26), measured in one process, settings interleaved.

    python benchmarks/threads_probe.py treenn TREES SENTENCES ROUNDS
        autobatched treenn training (the model of treenn.py, SST) at TREES trees per graph:
        1 thread; set_num_threads(2) (the engine's pool and a 2-thread BLAS); set_num_threads(2)
        with OpenBLAS held to 1 thread (threadpoolctl): the pool alone.
        Sentences per wall-second and per CPU-second of the process (all threads).
    python benchmarks/threads_probe.py levels
        where the pool pays: a forward of 4 independent chains of products (different
        weights, groups of N members, hidden H), 1 thread vs 2 with every batched group of a
        level pooled (the threshold set to 0), OpenBLAS on 1 thread; best of 7, interleaved.
    python benchmarks/threads_probe.py passes TREES ROUNDS
        autobatched treenn training at TREES trees per graph, each pass alternating 1 and 2
        threads in one process: sentences per wall-second per pass, phases, pieces.
    python benchmarks/threads_probe.py threshold TREES ROUNDS WORK [WORK ...]
        autobatched treenn training at TREES trees per graph (512 sentences), each round one
        pass at 1 thread then one at 2 threads per pool threshold WORK (the work from which a
        group or a weight-gradient GEMM runs on the threads), settings interleaved: median
        sentences per wall-second per setting, its ratio to 1 thread, and the pieces per pass.
    python benchmarks/threads_probe.py phases TREES ROUNDS
        autobatched treenn training at TREES trees per graph (512 sentences), passes of 1
        thread, 2 threads with backward's waves off, 2 threads with them on, interleaved:
        median sentences per wall-second, and the executor's phases per sentence (median
        over the rounds) with what lies outside them (graph construction in Python, the
        update, the loss's value), the wall time spent in jobs on the pool (in_pool: the rest
        ran on one thread) and the total.
    python benchmarks/threads_probe.py handoff
        the pool's hand-off: microseconds per empty job, jobs back to back.
    python benchmarks/threads_probe.py split
        where splitting a group by members pays: one chain of tanh(W h + b) over N members,
        forward + backward, 1 thread vs 2 threads split vs 2 threads unsplit.
"""
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

common.dynagraph_on_path()
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import dynagraph as dy  # noqa: E402
from dynagraph import _core  # noqa: E402


def treenn_ab(per_graph: int, n: int, rounds: int) -> None:
    import treenn
    data, vocab = treenn.encode_trees(common.find_data("sst") / "train.txt", n)
    _core.set_autobatch(True)
    train = treenn.dynet_model(dy, vocab)["train_batch"]
    batches = [data[i:i + per_graph] for i in range(0, len(data), per_graph)]
    sys.setrecursionlimit(10000)
    train(batches[0])
    res: dict = {}

    def one(name, threads, blas_one):
        dy.set_num_threads(threads)
        pooled = dy.autobatch_stats()["groups_pooled"]
        limit = threadpool_limits(1, user_api="blas") if blas_one else None
        w0, c0 = time.perf_counter(), time.process_time()
        for b in batches:
            train(b)
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if limit:
            limit.restore_original_limits()
        dy.set_num_threads(1)
        res.setdefault(name, []).append((len(data) / w, len(data) / c, dy.autobatch_stats()["groups_pooled"] - pooled))

    for _ in range(rounds):
        one("1 thread", 1, False)
        one("2 threads", 2, False)
        one("2 threads, BLAS 1", 2, True)
    print(f"{per_graph} trees per graph, {len(data)} sentences, {rounds} rounds, load {os.getloadavg()[0]:.1f}")
    for k, v in res.items():
        ws, cs = [x[0] for x in v], [x[1] for x in v]
        print(f"  {k:18s} sent/s {statistics.median(ws):6.0f} (best {max(ws):5.0f})   "
              f"sent/CPU-s {statistics.median(cs):6.0f} (best {max(cs):5.0f})   pooled groups per pass {v[-1][2]}")


def levels() -> None:
    def measure(H, N, chains=4, steps=6, rounds=7):
        dy.init(seed=1)
        pc = dy.ParameterCollection()
        Ws = [pc.add_parameters((H, H)) for _ in range(chains)]
        rng = np.random.default_rng(0)
        best = {1: 1e9, 2: 1e9}
        for _ in range(rounds):
            for t in (1, 2):
                dy.set_num_threads(t)
                dy.renew_cg(autobatching=True)
                hs = [[dy.inputVector(rng.standard_normal(H)) for _ in range(N)] for _ in Ws]
                for _ in range(steps):
                    hs = [[dy.tanh(W * h) for h in hh] for W, hh in zip(Ws, hs)]
                loss = dy.esum([dy.sum_elems(h) for hh in hs for h in hh])
                t0 = time.perf_counter()
                loss.value()
                best[t] = min(best[t], time.perf_counter() - t0)
        dy.set_num_threads(1)
        return (2 * H * H + 2 * H) * N, best[1], best[2]

    old = _core._autobatch_pool_min_work(0)
    print(f"load {os.getloadavg()[0]:.1f}")
    with threadpool_limits(1, user_api="blas"):
        for H, N in [(16, 8), (32, 8), (32, 32), (64, 16), (64, 64), (128, 32), (128, 128), (256, 64)]:
            work, a, b = measure(H, N)
            print(f"  H={H:4d} N={N:4d} work per group {work:9d}   1 thread {a * 1e6:7.0f} us   "
                  f"2 threads {b * 1e6:7.0f} us   1 thread / 2 threads {a / b:5.2f}")
    _core._autobatch_pool_min_work(old)


def treenn_passes(per_graph: int, rounds: int, n: int = 512) -> None:
    """Autobatched treenn training, each pass alternating 1 and 2 threads in this process:
    sentences per wall-second of every pass, the executor's phases (us per sentence) of
    each setting's best pass, and the pieces split over the threads per pass."""
    import treenn
    data, vocab = treenn.encode_trees(common.find_data("sst") / "train.txt", n)
    _core.set_autobatch(True)
    train = treenn.dynet_model(dy, vocab)["train_batch"]
    batches = [data[i:i + per_graph] for i in range(0, len(data), per_graph)]
    sys.setrecursionlimit(10000)
    for b in batches:
        train(b)
    res: dict = {}
    for _ in range(rounds):
        for threads in (1, 2):
            dy.set_num_threads(threads)
            dy.set_autobatch_profiling(True)  # also resets the counters
            w0 = time.perf_counter()
            for b in batches:
                train(b)
            w = time.perf_counter() - w0
            s = dy.autobatch_stats()
            dy.set_autobatch_profiling(False)
            phases = {k: v / 1e3 / len(data) for k, v in s["phase_ns"].items()}
            pieces = {k: s.get(k) for k in ("pieces_forward", "pieces_backward", "pieces_outer", "waves_pooled")}
            res.setdefault(threads, []).append((len(data) / w, phases, pieces))
    dy.set_num_threads(1)
    print(f"{per_graph} trees per graph, {len(data)} sentences, load {os.getloadavg()[0]:.1f}")
    for threads, v in res.items():
        rate, phases, pieces = max(v, key=lambda x: x[0])
        print(f"  {threads} thread(s): sent/s per pass {[round(x[0]) for x in v]}; best pass, us per sentence: "
              f"{ {k: round(x, 1) for k, x in phases.items()} } of {1e6 / rate:.0f}; {pieces}")


def threshold(per_graph: int, rounds: int, works: list, n: int = 512) -> None:
    import treenn
    data, vocab = treenn.encode_trees(common.find_data("sst") / "train.txt", n)
    _core.set_autobatch(True)
    train = treenn.dynet_model(dy, vocab)["train_batch"]
    batches = [data[i:i + per_graph] for i in range(0, len(data), per_graph)]
    sys.setrecursionlimit(10000)
    for b in batches:
        train(b)
    old = _core._autobatch_pool_min_work(-1)
    settings = [("1 thread", 1, old)] + [(f"2 threads, {w:g}", 2, w) for w in works]
    res: dict = {}
    loads = []
    for _ in range(rounds):
        for name, threads, work in settings:
            dy.set_num_threads(threads)
            _core._autobatch_pool_min_work(work)
            before = dy.autobatch_stats()
            w0 = time.perf_counter()
            for b in batches:
                train(b)
            w = time.perf_counter() - w0
            after = dy.autobatch_stats()
            pieces = tuple(after[k] - before[k] for k in ("pieces_forward", "pieces_backward", "pieces_outer"))
            res.setdefault(name, []).append((len(data) / w, pieces))
        loads.append(os.getloadavg()[0])
    dy.set_num_threads(1)
    _core._autobatch_pool_min_work(old)
    base = statistics.median(x[0] for x in res["1 thread"])
    print(f"{per_graph} trees per graph, {len(data)} sentences, {rounds} rounds, load {min(loads):.1f}-{max(loads):.1f}")
    for name, v in res.items():
        rates = [x[0] for x in v]
        med = statistics.median(rates)
        print(f"  {name:22s} sent/s median {med:6.0f} ({min(rates):5.0f}-{max(rates):5.0f})  x{med / base:5.2f}  "
              f"pieces fwd/bwd/outer per pass {v[-1][1]}")


def phases(per_graph: int, rounds: int, n: int = 512) -> None:
    import treenn
    data, vocab = treenn.encode_trees(common.find_data("sst") / "train.txt", n)
    _core.set_autobatch(True)
    train = treenn.dynet_model(dy, vocab)["train_batch"]
    batches = [data[i:i + per_graph] for i in range(0, len(data), per_graph)]
    sys.setrecursionlimit(10000)
    for b in batches:
        train(b)
    settings = [("1 thread", 1, True), ("2 threads, waves off", 2, False), ("2 threads, waves on", 2, True)]
    res: dict = {}
    loads = []
    for _ in range(rounds):
        for name, threads, waves in settings:
            dy.set_num_threads(threads)
            old = _core._set_autobatch_backward_waves(waves)
            dy.set_autobatch_profiling(True)  # also resets the counters
            p0 = _core._pool_parallel_ns()
            w0 = time.perf_counter()
            for b in batches:
                train(b)
            w = time.perf_counter() - w0
            pool_ns = _core._pool_parallel_ns() - p0
            s = dy.autobatch_stats()
            dy.set_autobatch_profiling(False)
            _core._set_autobatch_backward_waves(old)
            ph = {k: v / 1e3 / len(data) for k, v in s["phase_ns"].items()}
            ph["outside"] = w * 1e6 / len(data) - sum(ph.values())
            ph["in_pool"] = pool_ns / 1e3 / len(data)  # (within the phases above)
            ph["total"] = w * 1e6 / len(data)
            counts = {k: s[k] for k in ("pieces_forward", "pieces_backward", "pieces_outer", "waves_pooled",
                                        "groups_pooled", "waves_backward", "groups_waved_backward")}
            res.setdefault(name, []).append((len(data) / w, ph, counts))
        loads.append(os.getloadavg()[0])
    dy.set_num_threads(1)
    print(f"{per_graph} trees per graph, {len(data)} sentences, {rounds} rounds, load {min(loads):.1f}-{max(loads):.1f}")
    base = statistics.median(x[0] for x in res["1 thread"])
    for name, v in res.items():
        rates = [x[0] for x in v]
        med = {k: statistics.median(x[1][k] for x in v) for k in v[0][1]}
        print(f"  {name:22s} sent/s median {statistics.median(rates):6.0f} ({min(rates):5.0f}-{max(rates):5.0f}) "
              f"x{statistics.median(rates) / base:5.2f}; us per sentence (medians): "
              f"{ {k: round(x, 1) for k, x in med.items()} }; per pass {v[-1][2]}")


def handoff(jobs: int = 2000, rounds: int = 5) -> None:
    """The pool's hand-off: empty jobs back to back (best of `rounds`)."""
    print(f"load {os.getloadavg()[0]:.1f}")
    for threads in (2, 3):
        dy.set_num_threads(threads)
        for tasks in (threads, 4 * threads):
            ns = min(_core._pool_handoff_ns(jobs, tasks) for _ in range(rounds))
            print(f"  {threads} threads, {tasks:2d} empty tasks per job: {ns / 1e3:6.2f} us per job")
    dy.set_num_threads(1)


def split(rounds: int = 7) -> None:
    """Where splitting a group by members pays: one chain of tanh(W h + b) over N members
    (each level one group), forward + backward, 1 thread vs 2 threads with groups split
    (threshold 0) vs 2 threads with nothing split; best of `rounds`, interleaved."""
    def measure(H, N, steps=4):
        dy.init(seed=1)
        pc = dy.ParameterCollection()
        W, b = pc.add_parameters((H, H)), pc.add_parameters(H)
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal(H) for _ in range(N)]
        best = {}
        for _ in range(rounds):
            for name, t, work in (("1", 1, 0), ("2 split", 2, 0), ("2 whole", 2, 1e18)):
                dy.set_num_threads(t)
                _core._autobatch_pool_min_work(work)
                dy.renew_cg(autobatching=True)
                hs = [dy.inputVector(x) for x in xs]
                for _ in range(steps):
                    hs = [dy.tanh(W * h + b) for h in hs]
                loss = dy.esum([dy.sum_elems(h) for h in hs])
                t0 = time.perf_counter()
                loss.value()
                loss.backward()
                best[name] = min(best.get(name, 1e9), time.perf_counter() - t0)
        dy.set_num_threads(1)
        return H * H * N, best

    old = _core._autobatch_pool_min_work(0)
    print(f"load {os.getloadavg()[0]:.1f}")
    for H, N in [(32, 32), (32, 64), (64, 32), (64, 64), (128, 32), (128, 64), (128, 256), (256, 64)]:
        work, b = measure(H, N)
        print(f"  H={H:4d} N={N:4d} product work {work:9d}   1 thread {b['1'] * 1e6:7.0f} us   "
              f"2 split {b['2 split'] * 1e6:7.0f} us   2 whole {b['2 whole'] * 1e6:7.0f} us   "
              f"1 / 2 split {b['1'] / b['2 split']:5.2f}")
    _core._autobatch_pool_min_work(old)


if __name__ == "__main__":
    if sys.argv[1:2] == ["treenn"]:
        treenn_ab(*map(int, sys.argv[2:5]))
    elif sys.argv[1:2] == ["levels"]:
        levels()
    elif sys.argv[1:2] == ["passes"]:
        treenn_passes(*map(int, sys.argv[2:4]))
    elif sys.argv[1:2] == ["threshold"]:
        threshold(int(sys.argv[2]), int(sys.argv[3]), [float(w) for w in sys.argv[4:]])
    elif sys.argv[1:2] == ["phases"]:
        phases(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["handoff"]:
        handoff()
    elif sys.argv[1:2] == ["split"]:
        split()
    else:
        print(__doc__)
