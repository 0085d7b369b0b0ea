"""Tree-LSTM sentiment classifier on SST (dynet-benchmark's "treenn" task).

Unbatched: one graph per sentence. Binary Tree-LSTM, embeddings 128, hidden
128, a 5-way softmax loss at the root, SimpleSGD (lr 0.05, no gradient
clipping, so all three libraries do the same update). The same model is
written twice below: once for the DyNet API (run by DyNet and, unchanged, by
dynagraph) and once for PyTorch eager (one thread).

  leaf  x = E[word]:      i, o = sigmoid(W_{i,o} x + b_{i,o});  u = tanh(W_u x + b_u)
                          c = i*u;  h = o*tanh(c)
  node  e = [h_l; h_r]:   i, o, f_l, f_r = sigmoid(U_g e + b_g);  u = tanh(U_u e + b_u)
                          c = i*u + f_l*c_l + f_r*c_r;  h = o*tanh(c)
  loss  -log softmax(V h_root + b_V)[label]

Reports sentences per second for training (forward + backward + update) and
for the forward pass alone, on the first N sentences of the training set.
The trees are read once by the parent with dynagraph.data.read_sst_trees and
handed to the workers as word ids (no library is imported by another's worker).

    python benchmarks/treenn.py [--sentences 1000] [--quick]

Skips with a message when the SST folder does not exist.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import treenn_batched  # noqa: E402

PHASES = ("train", "forward")
AUTOBATCH = 16  # sentences per graph and update in the autobatched phase (dynet-benchmark's setting)
SWEEP = (1, 2, 4, 8, 16, 32, 64, 256)  # trees per graph of a full run, for the plot of throughput against batch size
THREAD_SIZES = (16, 64, 256)  # the sizes also run on all cores (dynagraph and PyTorch)
HERE = Path(__file__).resolve().parent
LIB_TITLES = {"dynagraph": "dynagraph", "dynet": "DyNet", "torch": "PyTorch"}
EMB, HID, CLASSES, LR = 128, 128, 5, 0.05


# ---------------------------------------------------------------- data (parent side)

def encode_trees(path: Path, limit: int) -> tuple[list, int]:
    """First `limit` trees as (label, structure): a leaf is a word id, a node [left, right]."""
    common.dynagraph_on_path()
    from dynagraph.data import read_sst_trees

    vocab: dict[str, int] = {}
    out = []

    def enc(t):
        while len(t.children) == 1:  # unary chains: keep the child
            t = t.children[0]
        if not t.children:
            return vocab.setdefault(t.word, len(vocab))
        if len(t.children) != 2:
            raise ValueError(f"treenn expects binarized trees, got {len(t.children)} children")
        return [enc(t.children[0]), enc(t.children[1])]

    for tree in read_sst_trees(path):
        out.append((int(tree.label), enc(tree)))
        if len(out) >= limit:
            break
    return out, len(vocab)


# ---------------------------------------------------------------- models (worker side)

def dynet_model(dy, vocab_size: int):
    """Returns (loss_of(label, tree), trainer, keepalive) written against DyNet's API."""
    m = dy.ParameterCollection()
    E = m.add_lookup_parameters((vocab_size, EMB))
    W = [m.add_parameters((HID, EMB)) for _ in "iou"]
    Wb = [m.add_parameters(HID) for _ in "iou"]
    U = [m.add_parameters((HID, 2 * HID)) for _ in "iouLR"]
    Ub = [m.add_parameters(HID) for _ in "iouLR"]
    V = m.add_parameters((CLASSES, HID))
    Vb = m.add_parameters(CLASSES)
    trainer = dy.SimpleSGDTrainer(m, LR)
    trainer.set_clip_threshold(0)

    def loss_of(label, tree):
        """The loss of one tree, added to the current graph."""
        Wi, Wo, Wu = [dy.parameter(p) for p in W]
        bi, bo, bu = [dy.parameter(p) for p in Wb]
        Ui, Uo, Uu, Ul, Ur = [dy.parameter(p) for p in U]
        ci, co, cu, cl, cr = [dy.parameter(p) for p in Ub]

        def node(t):
            if isinstance(t, int):
                x = dy.lookup(E, t)
                i = dy.logistic(Wi * x + bi)
                o = dy.logistic(Wo * x + bo)
                u = dy.tanh(Wu * x + bu)
                c = dy.cmult(i, u)
                return dy.cmult(o, dy.tanh(c)), c
            hl, cl_ = node(t[0])
            hr, cr_ = node(t[1])
            e = dy.concatenate([hl, hr])
            i = dy.logistic(Ui * e + ci)
            o = dy.logistic(Uo * e + co)
            u = dy.tanh(Uu * e + cu)
            fl = dy.logistic(Ul * e + cl)
            fr = dy.logistic(Ur * e + cr)
            c = dy.cmult(i, u) + dy.cmult(fl, cl_) + dy.cmult(fr, cr_)
            return dy.cmult(o, dy.tanh(c)), c

        h, _ = node(tree)
        return dy.pickneglogsoftmax(dy.parameter(V) * h + dy.parameter(Vb), label)

    def train(label, tree):
        dy.renew_cg()
        loss = loss_of(label, tree)
        value = loss.scalar_value()
        loss.backward()
        trainer.update()
        return value

    def forward(label, tree):
        dy.renew_cg()
        return loss_of(label, tree).scalar_value()

    def train_batch(items):
        """One graph and one update for several trees (run with autobatching on)."""
        dy.renew_cg()
        loss = dy.esum([loss_of(label, tree) for label, tree in items])
        value = loss.scalar_value()
        loss.backward()
        trainer.update()
        return value

    return {"train": train, "forward": forward, "train_batch": train_batch, "loss_of": loss_of, "_keep": m}


def torch_model(torch, vocab_size: int):
    F = torch.nn.functional

    def param(*shape, scale=None):
        s = scale if scale is not None else (6.0 / sum(shape)) ** 0.5
        return torch.nn.Parameter(torch.empty(*shape).uniform_(-s, s))

    E = param(vocab_size, EMB, scale=(3.0 / EMB) ** 0.5)
    Wi, Wo, Wu = [param(HID, EMB) for _ in "iou"]
    bi, bo, bu = [param(HID, scale=(3.0 / HID) ** 0.5) for _ in "iou"]
    Ui, Uo, Uu, Ul, Ur = [param(HID, 2 * HID) for _ in "iouLR"]
    ci, co, cu, cl, cr = [param(HID, scale=(3.0 / HID) ** 0.5) for _ in "iouLR"]
    V = param(CLASSES, HID)
    Vb = param(CLASSES, scale=(3.0 / CLASSES) ** 0.5)
    params = [E, Wi, Wo, Wu, bi, bo, bu, Ui, Uo, Uu, Ul, Ur, ci, co, cu, cl, cr, V, Vb]
    # Sparse embedding gradients, as DyNet's lookup parameters (SGD supports them).
    opt = torch.optim.SGD(params, lr=LR)

    def leaves(t, out):
        if isinstance(t, int):
            out.append(t)
        else:
            leaves(t[0], out)
            leaves(t[1], out)
        return out

    def loss_of(label, tree):
        # One embedding lookup per sentence (the idiomatic PyTorch form), rows taken per leaf.
        X = F.embedding(torch.tensor(leaves(tree, [])), E, sparse=True)
        pos = iter(range(X.shape[0]))

        def node(t):
            if isinstance(t, int):
                x = X[next(pos)]
                i = torch.sigmoid(Wi @ x + bi)
                o = torch.sigmoid(Wo @ x + bo)
                u = torch.tanh(Wu @ x + bu)
                c = i * u
                return o * torch.tanh(c), c
            hl, cl_ = node(t[0])
            hr, cr_ = node(t[1])
            e = torch.cat([hl, hr])
            i = torch.sigmoid(Ui @ e + ci)
            o = torch.sigmoid(Uo @ e + co)
            u = torch.tanh(Uu @ e + cu)
            fl = torch.sigmoid(Ul @ e + cl)
            fr = torch.sigmoid(Ur @ e + cr)
            c = i * u + fl * cl_ + fr * cr_
            return o * torch.tanh(c), c

        h, _ = node(tree)
        return -F.log_softmax(V @ h + Vb, dim=0)[label]

    def train(label, tree):
        loss = loss_of(label, tree)
        value = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return value

    def forward(label, tree):
        with torch.no_grad():
            return loss_of(label, tree).item()

    return {"train": train, "forward": forward, "_keep": opt}


def worker(lib: str, data_path: str, repeats: int, autobatch: int = 0, all_threads: bool = False) -> None:

    with open(data_path) as f:
        blob = json.load(f)
    data, vocab_size = blob["trees"], blob["vocab"]
    mod = common.import_library(lib, autobatch=bool(autobatch))
    if lib != "torch":
        missing = [op for op in ("concatenate", "pickneglogsoftmax", "lookup") if not hasattr(mod, op)]
        if missing:
            common.emit({"lib": lib, "skipped": f"{lib} lacks {', '.join(missing)}"})
            return
    if lib == "torch":
        if all_threads:
            mod.set_num_threads(os.cpu_count() or 1)
        fns = treenn_batched.torch_level_batched_model(mod, vocab_size) if autobatch else torch_model(mod, vocab_size)
    else:
        fns = dynet_model(mod, vocab_size)
    if lib == "dynagraph" and all_threads:
        mod.set_num_threads(os.cpu_count() or 1)
    sys.setrecursionlimit(10000)
    if autobatch:
        fn = fns["train_batch"]
        batches = [data[i:i + autobatch] for i in range(0, len(data), autobatch)]
        cpu_secs: list[float] = []
        # One untimed pass first: the steady state of a training run. In a fresh process two
        # engine threads took 3-10 graphs after the first to reach it (a pass at 64 trees is 8),
        # which a one-graph warm-up left in the timed passes (benchmarks/log/treenn.md).
        secs, losses = common.time_passes(fn, batches, repeats, warmup=len(batches), cpu_secs=cpu_secs)
        # PyTorch's batches are by hand (by tree level); the DyNet-API libraries' by their executors.
        phase = f"train_autobatch{autobatch}{'_threads' if all_threads else ''}"
        common.emit({"lib": lib, "phase": phase, "sentences": len(data), "seconds": secs,
                     "cpu_seconds": sum(cpu_secs), "units": len(data) * repeats,
                     "mean_loss": sum(losses) / len(data)})
        return
    for phase in PHASES:
        fn = fns[phase]
        secs, losses = common.time_passes(lambda example: fn(*example), data, repeats, warmup=50)
        common.emit({"lib": lib, "phase": phase, "sentences": len(data), "seconds": secs,
                     "mean_loss": sum(losses) / len(data)})


# ---------------------------------------------------------------- parent

def run(sentences: int = 1000, libs=common.LIBS, rounds: int = 2, repeats: int = 2,
        sizes: tuple = (AUTOBATCH,), threads: bool = True, data_dir=None) -> dict | str:
    """Runs every worker ``rounds`` times, interleaved; the results as a dict, or why it was skipped."""
    try:
        train = common.find_data("sst", data_dir) / "train.txt"
    except FileNotFoundError as e:   # DatasetMissing: says what is missing and where to get it
        return f"treenn: skipped: {e}"
    data, vocab = encode_trees(train, sentences)
    words = sum(_count_leaves(t) for _, t in data)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"trees": data, "vocab": vocab}, f)
        path = f.name
    script = Path(__file__).resolve()
    rates: dict[tuple, list[float]] = {}
    cpu_rates: dict[tuple, list[float]] = {}
    rss: dict[str, float] = {}
    notes: list[str] = []
    losses: dict[tuple, float] = {}
    try:
        for _ in range(rounds):
            for lib in libs:
                # PyTorch's batched runs are batched by hand (by tree level); DyNet runs on one thread only.
                modes = [(0, False)] + [(s, False) for s in sizes]
                if lib != "dynet" and threads:
                    modes += [(s, True) for s in sizes if s in THREAD_SIZES or len(sizes) == 1]
                for ab, all_threads in modes:
                    args = ["--worker", lib, "--data", path, "--repeats", str(repeats), "--autobatch", str(ab)]
                    args += ["--all-threads"] if all_threads else []
                    for r in common.run_worker(script, args):
                        if "error" in r or "skipped" in r:
                            notes.append(r.get("error") or r["skipped"])
                            continue
                        rates.setdefault((lib, r["phase"]), []).extend(r["sentences"] / s for s in r["seconds"])
                        if "cpu_seconds" in r:
                            cpu_rates.setdefault((lib, r["phase"]), []).append(r["units"] / r["cpu_seconds"])
                        losses[(lib, r["phase"])] = r["mean_loss"]
                        rss[lib] = max(rss.get(lib, 0.0), r["peak_rss_mb"])
    finally:
        os.unlink(path)
    phases = list(PHASES) + [f"train_autobatch{s}{t}" for t in ("", "_threads") for s in sizes]
    return {"flops_per_sentence": treenn_batched.flops_per_sentence(data), "sgemm_flops": _sgemm_one_thread(),
            "products_only": _products_only(data, sizes),
            "cores": os.cpu_count(),"task": "treenn", "sentences": len(data), "words": words, "vocab": vocab, "emb": EMB, "hidden": HID,
            "libs": list(libs), "sizes": list(sizes), "rounds": rounds, "repeats": repeats,
            "machine": common.machine_line(),
            "sent_per_s": {lib: {ph: common.median(rates[(lib, ph)]) for ph in phases if (lib, ph) in rates}
                           for lib in libs},
            "sent_per_cpu_s": {lib: {ph: common.median(cpu_rates[(lib, ph)]) for ph in phases
                                     if (lib, ph) in cpu_rates} for lib in libs},
            "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "mean_loss": {lib: losses[(lib, "train")] for lib in libs if (lib, "train") in losses},
            "peak_rss_mb": rss, "notes": list(dict.fromkeys(notes))}


def report(res: dict) -> str:
    libs, sizes = res["libs"], res["sizes"]

    def rate(lib, phase):
        return res["sent_per_s"].get(lib, {}).get(phase)

    peers = [l for l in libs if l != "dynagraph"]
    headers = ["phase"] + [f"{LIB_TITLES[l]} sent/s" for l in libs]
    if "dynagraph" in libs:
        headers += [f"vs {LIB_TITLES[p]}" for p in peers]
    headers += ["dynagraph % of SGEMM", "products-only sent/s", "dynagraph % of it"]
    headers += [f"{LIB_TITLES[l]} sent/CPU-s" for l in libs]
    flops, sgemm = res.get("flops_per_sentence"), res.get("sgemm_flops")
    ceilings = res.get("products_only", {})
    rows = []
    for phase in PHASES + tuple(f"train_autobatch{s}{t}" for t in ("", "_threads") for s in sizes):
        if not any(rate(l, phase) for l in libs):
            continue
        row = [phase] + [common.fmt_num(rate(l, phase)) if rate(l, phase) else "-" for l in libs]
        if "dynagraph" in libs:
            row += [common.ratio(rate(p, phase), rate("dynagraph", phase), lower_is_better=False) for p in peers]
        ours = rate("dynagraph", phase)
        # The products' FLOPs at this rate over one core's SGEMM rate (training phases only).
        row.append(f"{100 * ours * flops / sgemm:.0f}%" if ours and flops and sgemm and phase != "forward" else "-")
        # The one-thread products at this row's GEMM shapes (autobatched one-thread rows only).
        ceiling = ceilings.get(phase.removeprefix("train_autobatch")) if phase.startswith("train_autobatch") else None
        ceiling = None if phase.endswith("_threads") else ceiling
        row += [common.fmt_num(ceiling) if ceiling else "-", f"{100 * ours / ceiling:.0f}%" if ours and ceiling else "-"]
        cpu = res.get("sent_per_cpu_s", {})
        row += [common.fmt_num(cpu[l][phase]) if phase in cpu.get(l, {}) else "-" for l in libs]
        rows.append(row)
    out = [f"treenn: binary Tree-LSTM on SST train (first {res['sentences']} sentences, {res['words']} words, "
           f"vocab {res['vocab']}), emb {EMB}, hid {HID}, SimpleSGD; unbatched (one tree per graph) and "
           f"autobatched (train_autobatchN: N trees per graph and update); "
           f"median of {res['rounds']}x{res['repeats']} passes (autobatched: each after one untimed pass)",
           res["machine"] + (f"; load average {res['load']:.1f} at the end" if res.get("load") else ""), "",
           common.format_table(headers, rows), "",
           "'vs X' = dynagraph's rate / X's rate (>1: dynagraph faster). train_autobatchN: N trees per graph "
           "and update — DyNet and dynagraph autobatched, PyTorch batched by hand by tree level "
           f"(treenn_batched.py); _threads: all {res.get('cores')} cores (dynagraph set_num_threads, "
           "PyTorch's default), else one thread. sent/CPU-s: sentences per second of the process's CPU time, "
           "all its threads, over the timed passes (autobatched rows; less sensitive to other processes' load than wall-clock).",
           f"products per sentence (forward + backward, no executor can skip them): "
           f"{res.get('flops_per_sentence', 0) / 1e6:.1f} MFLOP; this core's single-thread SGEMM, measured in "
           f"this run: {res.get('sgemm_flops', 0) / 1e9:.1f} GFLOP/s; '% of SGEMM' = dynagraph's rate x FLOPs "
           "/ that rate (the share of one core's product speed reached). 'products-only sent/s': the same "
           "products alone, one thread, at this row's GEMM shapes (batched by tree level, the cell's weight "
           "gradient once per graph; treenn_batched.products_rate): the ceiling of any level-batching executor "
           "at this batch size, and how it grows with the batch.",
           "mean loss of the last timed pass (sanity check that the models train alike; initial values differ): "
           + ", ".join(f"{LIB_TITLES[l]} {res['mean_loss'][l]:.3f}" for l in libs if l in res["mean_loss"]),
           "peak RSS (MiB): " + ", ".join(f"{LIB_TITLES[l]}={res['peak_rss_mb'][l]:.0f}" for l in libs
                                          if l in res["peak_rss_mb"])]
    if res["notes"]:
        out += ["", "notes:"] + [f"  {n}" for n in res["notes"]]
    return "\n".join(out)


def plot(res: dict, path: Path) -> bool:
    """Training sentences/s against trees per graph (autobatched), unbatched rates as flat lines."""
    sps = res["sent_per_s"]
    series = {f"{LIB_TITLES[l]} {'by level, by hand' if l == 'torch' else 'autobatched'}":
              {s: sps[l][f"train_autobatch{s}"] for s in res["sizes"] if f"train_autobatch{s}" in sps.get(l, {})}
              for l in res["libs"]}
    flat = {f"{LIB_TITLES[l]} unbatched": sps[l]["train"] for l in res["libs"] if "train" in sps.get(l, {})}
    return common.plot_throughput(series, path, xlabel="trees per graph (autobatched)", ylabel="training sentences / s",
                                  title=f"treenn: SST Tree-LSTM (emb {EMB}, hid {HID}), 1 CPU thread", flat=flat)


def _sgemm_one_thread() -> float:
    """This core's single-thread SGEMM rate (FLOP/s), NumPy's BLAS held to one thread."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        return treenn_batched.sgemm_rate()


def _products_only(data, sizes) -> dict:
    """{trees per graph (str): sentences/s of the products alone at those shapes, one thread}."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        return {str(s): treenn_batched.products_rate(data, s) for s in sizes}


def _count_leaves(t) -> int:
    return 1 if isinstance(t, int) else _count_leaves(t[0]) + _count_leaves(t[1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=common.LIBS, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--autobatch", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", default=None, help="SST folder (default $DYNAGRAPH_SST_DIR, "
                    "else ../shared/data/sst beside the checkout)")
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--libs", nargs="+", choices=common.LIBS, default=list(common.LIBS))
    ap.add_argument("--rounds", type=int, default=2, help="interleaved runs of every worker")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes over the sentences per worker")
    ap.add_argument("--sizes", type=int, nargs="+", default=None,
                    help=f"trees per graph of the autobatched runs (default: {' '.join(map(str, SWEEP))}; "
                         f"{AUTOBATCH} with --quick)")
    ap.add_argument("--all-threads", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-threads", action="store_true", help="skip the all-cores runs of dynagraph and PyTorch")
    ap.add_argument("--json", type=Path, default=None, help="results file (default: treenn.json here)")
    ap.add_argument("--plot", type=Path, default=None, help="PNG plot (default: treenn.png here)")
    ap.add_argument("--quick", action="store_true",
                    help=f"200 sentences, 1 round, 1 pass, autobatch {AUTOBATCH} only; no JSON/plot unless asked")
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.data, a.repeats, a.autobatch, a.all_threads)
        return
    if a.quick:
        a.sentences, a.rounds, a.repeats = 200, 1, 1
        a.sizes = a.sizes or [AUTOBATCH]
    else:
        a.json = a.json or HERE / "treenn.json"
        a.plot = a.plot or HERE / "treenn.png"
    res = run(a.sentences, tuple(a.libs), a.rounds, a.repeats, tuple(a.sizes or SWEEP), not a.no_threads, a.data_dir)
    if isinstance(res, str):
        print(res)
        return
    print(report(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
        print(f"results written to {a.json}")
    if a.plot and len(res["sizes"]) > 1:
        if plot(res, a.plot):
            print(f"plot written to {a.plot}")


if __name__ == "__main__":
    main()
