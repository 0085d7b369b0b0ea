"""Minibatched LSTM language model on PTB (dynet-benchmark's "rnnlm-batch" task).

Word embeddings 128, one LSTM layer of 256, softmax over the 10,000-word PTB
vocabulary; Adam (lr 0.001, no gradient clipping, so all three libraries do
the same update); loss summed over the words of a minibatch. Sentences are
sorted by length and cut into minibatches of 64, 16, 4 and 1 sentences; the
order of the minibatches is shuffled once (same order for every library).

* DyNet and dynagraph run literally the same function, dynet-benchmark's
  formulation: one graph per minibatch, ``dy.lookup_batch`` for the inputs,
  ``VanillaLSTMBuilder``, per time step ``dy.pickneglogsoftmax_batch`` of the
  softmax layer, a 0/1 mask for sentences already finished, ``dy.sum_batches``.
* PyTorch eager (one thread) runs the idiomatic equivalent: ``nn.Embedding``,
  one fused ``nn.LSTM`` call over the padded (T, B) minibatch, one ``nn.Linear``
  over all time steps at once, masked ``cross_entropy`` summed.
* "dynagraph 1-softmax" is the DyNet-API function again with the softmax layer
  applied once to all time steps (``dy.concatenate_to_batch`` of the LSTM
  outputs, one ``pickneglogsoftmax_batch``), as PyTorch does: same maths, one
  GEMM instead of T skinny ones (``--no-one-softmax`` leaves it out).
* "dynagraph autobatched" and "DyNet autobatched" run the per-step function
  unchanged with each library's autobatching executor on: dynagraph's
  scheduler lets the per-step softmax products wait for the last step and
  runs them as one GEMM, as the 1-softmax form does by hand
  (``--no-autobatch`` leaves both out).

Reports training words per second (forward + backward + update; ``<eos>``
counts as a word) for each minibatch size, the ratios, and the peak resident
memory of each library's workers. The parent reads PTB once (with
``dynagraph.data.read_ptb_lm``) and hands the workers word ids, so no worker
imports another library. Writes the results as JSON and a plot of words/s
against minibatch size (full runs only, unless --json/--plot are given).

    python benchmarks/rnnlm_batch.py [--sentences 1000] [--sizes 64 16 4 1] [--quick]

Skips with a message when the PTB folder does not exist.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
LIB_TITLES = {"dynagraph": "dynagraph", "dynet": "DyNet", "torch": "PyTorch",
              "dynagraph-1sm": "dynagraph 1-softmax", "dynagraph-ab": "dynagraph autobatched",
              "dynet-ab": "DyNet autobatched"}
# Extra series: the library each runs on. "-ab": the per-step code unchanged, with the
# library's autobatching executor on (it may merge the per-step softmax products).
VARIANTS = {"dynagraph-1sm": "dynagraph", "dynagraph-ab": "dynagraph", "dynet-ab": "dynet"}
SIZES = (64, 16, 4, 1)
EMB, HID, LR = 128, 256, 0.001
EOS = "<eos>"


# ---------------------------------------------------------------- data (parent side)

def encode_ptb(folder: Path, limit: int, seed: int = 1) -> tuple[list, int]:
    """``limit`` training sentences drawn at random (ids, each ending with <eos> = 0) and the vocabulary size."""
    common.dynagraph_on_path()
    from dynagraph.data import Vocab, read_ptb_lm

    sents = list(read_ptb_lm(folder / "ptb.train.txt", eos=EOS))
    vocab = Vocab.build(sents, unk="<unk>", specials=(EOS,))
    chosen = random.Random(seed).sample(sents, min(limit, len(sents)))
    return [vocab.encode(s) for s in chosen], len(vocab)


def minibatches(sents: list, size: int, seed: int = 1) -> list:
    """Sorted by length, cut into consecutive chunks of ``size``, chunks shuffled."""
    ordered = sorted(sents, key=len, reverse=True)
    batches = [ordered[i:i + size] for i in range(0, len(ordered), size)]
    random.Random(seed).shuffle(batches)
    return batches


# ---------------------------------------------------------------- models (worker side)

def dynet_model(dy, vocab_size: int, one_softmax: bool = False):
    """Returns train(batch) -> (loss, words) written against DyNet's API (<eos> has id 0).
    ``one_softmax``: one softmax node for all time steps instead of one per step."""
    m = dy.ParameterCollection()
    E = m.add_lookup_parameters((vocab_size, EMB))
    rnn = dy.VanillaLSTMBuilder(1, EMB, HID, m)
    W = m.add_parameters((vocab_size, HID))
    b = m.add_parameters(vocab_size)
    trainer = dy.AdamTrainer(m, LR)
    trainer.set_clip_threshold(0)

    def train(sents):
        dy.renew_cg()
        W_e, b_e = dy.parameter(W), dy.parameter(b)
        B = len(sents)
        s = rnn.initial_state().add_input(dy.lookup_batch(E, [0] * B))
        losses, words, hs, all_ids, all_mask = [], 0, [], [], []
        for t in range(max(len(x) for x in sents)):
            ids = [x[t] if t < len(x) else 0 for x in sents]
            mask = [1.0 if t < len(x) else 0.0 for x in sents]
            if one_softmax:
                hs.append(s.output())
                all_ids += ids
                all_mask += mask
            else:
                loss = dy.pickneglogsoftmax_batch(W_e * s.output() + b_e, ids)
                if mask[-1] == 0.0:
                    loss = loss * dy.reshape(dy.inputVector(mask), (1,), B)
                losses.append(loss)
            words += int(sum(mask))
            s = s.add_input(dy.lookup_batch(E, ids))
        if one_softmax:
            loss = dy.pickneglogsoftmax_batch(W_e * dy.concatenate_to_batch(hs) + b_e, all_ids)
            if min(all_mask) == 0.0:
                loss = loss * dy.reshape(dy.inputVector(all_mask), (1,), len(all_mask))
            loss = dy.sum_batches(loss)
        else:
            loss = dy.sum_batches(dy.esum(losses))
        value = loss.scalar_value()
        loss.backward()
        trainer.update()
        return value, words

    return train, m


def torch_model(torch, vocab_size: int):
    nn, F = torch.nn, torch.nn.functional
    emb = nn.Embedding(vocab_size, EMB)
    lstm = nn.LSTM(EMB, HID)
    out = nn.Linear(HID, vocab_size)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=LR)

    def train(sents):
        B, T = len(sents), max(len(x) for x in sents)
        ids = torch.zeros(T, B, dtype=torch.long)
        for j, x in enumerate(sents):
            ids[:len(x), j] = torch.tensor(x)
        inputs = torch.cat([torch.zeros(1, B, dtype=torch.long), ids[:-1]])  # <eos> first
        mask = (torch.arange(T).unsqueeze(1) < torch.tensor([len(x) for x in sents]).unsqueeze(0)).float()
        h, _ = lstm(emb(inputs))
        logits = out(h.reshape(T * B, HID))
        loss = (F.cross_entropy(logits, ids.reshape(-1), reduction="none") * mask.reshape(-1)).sum()
        value = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return value, int(mask.sum().item())

    return train, opt


def worker(series: str, data_path: str, size: int, repeats: int) -> None:

    with open(data_path) as f:
        blob = json.load(f)
    lib = VARIANTS.get(series, series)
    # DyNet's autobatching cannot grow its memory pools: minibatch 64 needs more than the default 512 MB.
    mod = common.import_library(lib, autobatch=series.endswith("-ab"), mem_mb=2048 if series == "dynet-ab" else 512)
    if lib != "torch":
        missing = [op for op in ("lookup_batch", "pickneglogsoftmax_batch", "sum_batches", "VanillaLSTMBuilder")
                   if not hasattr(mod, op)]
        if missing:
            common.emit({"lib": series, "skipped": f"{lib} lacks {', '.join(missing)}"})
            return
    if lib == "torch":
        train, _keep = torch_model(mod, blob["vocab"])
    else:
        train, _keep = dynet_model(mod, blob["vocab"], one_softmax=series == "dynagraph-1sm")
    batches = minibatches(blob["sents"], size)
    secs, results = common.time_passes(train, batches, repeats, warmup=2)
    words = sum(n for _, n in results)
    common.emit({"lib": series, "size": size, "words": words, "seconds": secs,
                 "mean_loss": sum(loss for loss, _ in results) / words})


# ---------------------------------------------------------------- parent side

def run(sentences: int, sizes: tuple, libs: tuple, rounds: int, repeats: int, data_dir=None) -> dict | str:
    """Runs every (library, minibatch size) worker ``rounds`` times, interleaved; the results, or why
    it was skipped."""
    try:
        ptb = common.find_data("ptb", data_dir)
    except FileNotFoundError as e:   # DatasetMissing: says what is missing and where to get it
        return f"rnnlm_batch: skipped: {e}"
    data, vocab = encode_ptb(ptb, sentences)
    fd, path = tempfile.mkstemp(suffix=".json", prefix="rnnlm_batch_")
    with os.fdopen(fd, "w") as f:
        json.dump({"sents": data, "vocab": vocab}, f)
    script = Path(__file__).resolve()
    rates: dict[tuple, list] = {}
    rss: dict[str, float] = {}
    losses: dict[tuple, float] = {}
    notes: list[str] = []
    try:
        for _ in range(rounds):
            for size in sizes:
                for lib in libs:
                    args = ["--worker", lib, "--data", path, "--size", str(size), "--repeats", str(repeats)]
                    for r in common.run_worker(script, args, timeout=1800.0):
                        if "error" in r or "skipped" in r:
                            notes.append(r.get("error") or r["skipped"])
                            continue
                        rates.setdefault((lib, size), []).extend(r["words"] / s for s in r["seconds"])
                        losses[(lib, size)] = r["mean_loss"]
                        rss[lib] = max(rss.get(lib, 0.0), r["peak_rss_mb"])
    finally:
        os.unlink(path)
    words = sum(len(s) for s in data)
    return {"task": "rnnlm-batch", "sentences": len(data), "words": words, "vocab": vocab, "emb": EMB,
            "hidden": HID, "sizes": list(sizes), "libs": list(libs), "rounds": rounds, "repeats": repeats,
            "machine": common.machine_line(),
            "words_per_s": {lib: {str(s): common.median(rates[(lib, s)]) for s in sizes if (lib, s) in rates}
                            for lib in libs},
            "mean_loss": {lib: {str(s): losses[(lib, s)] for s in sizes if (lib, s) in losses} for lib in libs},
            "peak_rss_mb": rss, "notes": list(dict.fromkeys(notes))}


def report(res: dict) -> str:
    libs, sizes, wps = res["libs"], res["sizes"], res["words_per_s"]

    def rate(lib, size):
        return wps.get(lib, {}).get(str(size))

    peers = [l for l in libs if l in common.LIBS and l != "dynagraph"]
    headers = ["minibatch"] + [f"{LIB_TITLES[l]} words/s" for l in libs]
    if "dynagraph" in libs:
        headers += [f"vs {LIB_TITLES[p]}" for p in peers]
    rows = []
    for size in sizes:
        row = [size] + [common.fmt_num(rate(l, size)) if rate(l, size) else "-" for l in libs]
        if "dynagraph" in libs:
            row += [common.ratio(rate(p, size), rate("dynagraph", size), lower_is_better=False) for p in peers]
        rows.append(row)
    onesm = "dynagraph-1sm" in libs and "torch" in libs

    def ratios(mine, peer):
        return ", ".join(f"{s}: {common.ratio(rate(peer, s), rate(mine, s), lower_is_better=False)}" for s in sizes)

    autobatched = []
    if "dynagraph-ab" in libs:
        autobatched = ["autobatched (the same per-step code, executor switched): dynagraph / DyNet "
                       + (ratios("dynagraph-ab", "dynet-ab") if "dynet-ab" in libs else "-")
                       + "; dynagraph / PyTorch " + (ratios("dynagraph-ab", "torch") if "torch" in libs else "-")]
    out = [f"rnnlm-batch: LSTM LM on PTB train ({res['sentences']} random sentences, {res['words']} words, "
           f"vocab {res['vocab']}), emb {EMB}, hid {HID}, Adam, training words/s; "
           f"median of {res['rounds']}x{res['repeats']} passes",
           res["machine"], "", common.format_table(headers, rows), "",
           "'vs X' = dynagraph's rate / X's rate (>1: dynagraph faster). PyTorch: fused nn.LSTM + one Linear "
           "over all steps; DyNet/dynagraph: VanillaLSTMBuilder + a softmax per step (dynet-benchmark's code)"
           + ("; dynagraph 1-softmax: one softmax over all steps (1-softmax / PyTorch: "
              + ratios("dynagraph-1sm", "torch") + ")." if onesm else "."),
           *autobatched,
           "mean loss per word of the last pass at minibatch 64 (sanity check; initial values differ): "
           + ", ".join(f"{LIB_TITLES[l]} {res['mean_loss'][l]['64']:.3f}" for l in libs
                       if "64" in res["mean_loss"].get(l, {})),
           "peak RSS (MiB): " + ", ".join(f"{LIB_TITLES[l]}={res['peak_rss_mb'][l]:.0f}" for l in libs
                                          if l in res["peak_rss_mb"])]
    if res["notes"]:
        out += ["", "notes:"] + [f"  {n}" for n in res["notes"]]
    return "\n".join(out)


def plot(res: dict, path: Path) -> bool:
    """words/s against minibatch size, one line per library, log-log axes."""
    series = {LIB_TITLES[lib]: {int(s): r for s, r in res["words_per_s"].get(lib, {}).items()} for lib in res["libs"]}
    return common.plot_throughput(series, path, xlabel="minibatch size (sentences)", ylabel="training words / s",
                                  title=f"rnnlm-batch: PTB LSTM LM (emb {EMB}, hid {HID}), 1 CPU thread",
                                  dashed=[LIB_TITLES[v] for v in VARIANTS])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=list(common.LIBS) + list(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", default=None, help="PTB folder (default $DYNAGRAPH_PTB_DIR, "
                    "else ../shared/data/ptb beside the checkout)")
    ap.add_argument("--sentences", type=int, default=1000, help="random PTB training sentences per pass")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="minibatch sizes")
    ap.add_argument("--libs", nargs="+", choices=common.LIBS, default=list(common.LIBS))
    ap.add_argument("--no-one-softmax", action="store_true", help="leave out the 'dynagraph 1-softmax' series")
    ap.add_argument("--no-autobatch", action="store_true", help="leave out the autobatched series")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved runs of every worker")
    ap.add_argument("--repeats", type=int, default=1, help="timed passes over the sentences per worker")
    ap.add_argument("--json", type=Path, default=None, help="results file (default: rnnlm_batch.json here)")
    ap.add_argument("--plot", type=Path, default=None, help="PNG plot (default: rnnlm_batch.png here)")
    ap.add_argument("--quick", action="store_true", help="100 sentences, 1 round, 1 pass; no JSON/plot unless asked")
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.data, a.size, a.repeats)
        return
    if a.quick:
        a.sentences, a.rounds, a.repeats = 100, 1, 1
    else:
        a.json = a.json or HERE / "rnnlm_batch.json"
        a.plot = a.plot or HERE / "rnnlm_batch.png"
    extra = [v for v, lib in VARIANTS.items() if lib in a.libs
             and not (a.no_one_softmax and v == "dynagraph-1sm") and not (a.no_autobatch and v.endswith("-ab"))]
    series = tuple(a.libs) + tuple(extra)
    res = run(a.sentences, tuple(a.sizes), series, a.rounds, a.repeats, a.data_dir)
    if isinstance(res, str):
        print(res)
        return
    print(report(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
        print(f"results written to {a.json}")
    if a.plot:
        if plot(res, a.plot):
            print(f"plot written to {a.plot}")


if __name__ == "__main__":
    main()
