"""BiLSTM tagger on UD English EWT (dynet-benchmark's "bilstm-tagger" tasks).

Two tasks, one graph per sentence (unbatched), SimpleSGD (lr 0.1, no gradient
clipping, so all three libraries do the same update):

* ``bilstm-tagger``: words seen at most 5 times in the training set map to
  one unknown-word embedding;
* ``bilstm-tagger-withchar``: those rare words are instead represented by a
  character BiLSTM (char embeddings 20, 64 units per direction, the word's
  characters between two boundary symbols; forward and backward last
  outputs concatenated, 128 = the word embedding size).

The rest is shared::

    x_t = E[w_t] (128) or charBiLSTM(w_t) (128)
    h_t = [LSTM_fwd(x_1..x_t); LSTM_bwd(x_T..x_t)]        50 + 50
    loss = sum_t -log softmax(O tanh(H h_t))[tag_t]         H: 32 x 100, O: K x 32 (no biases)

The model is written twice: once for the DyNet API (run by DyNet and, unchanged,
by dynagraph) and once for PyTorch eager (one thread; ``nn.LSTM`` over the
sentence and over each rare word's characters, its idiomatic unbatched form).
Reports training words per second unbatched and, for DyNet and dynagraph, with
their autobatching on and 16 sentences per graph and update (summed losses,
learning rate divided by 16).  The sentences
are read once by the parent (``dynagraph.data.read_conllu``; word counts over
the whole training set) and handed to the workers as ids.

    python benchmarks/bilstm_tagger.py [--sentences 500] [--quick]

Skips with a message when the UD EWT folder does not exist.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TASKS = ("bilstm-tagger", "bilstm-tagger-withchar")
AUTOBATCH = 16  # sentences per graph and update in the autobatched phase
LIB_TITLES = {"dynagraph": "dynagraph", "dynet": "DyNet", "torch": "PyTorch"}
WEMB, CEMB, HID, MLP, LR, RARE = 128, 20, 50, 32, 0.05, 5


# ---------------------------------------------------------------- data (parent side)

def encode(path: Path, limit: int) -> dict:
    """The first ``limit`` sentences as ids.  A token is ``[word_id, tag_id, char_ids]``: ``word_id`` is
    the unknown word's (0) for words seen at most RARE times in the whole file, ``char_ids`` (boundary
    symbol, characters, boundary symbol) is given for exactly those words."""
    common.dynagraph_on_path()
    from dynagraph.data import read_conllu

    sents = [[(t.form, t.upos) for t in s.tokens] for s in read_conllu(path) if len(s)]
    counts = Counter(w for s in sents for w, _ in s)
    words, tags, chars = {"<unk>": 0}, {}, {"<unk>": 0, "<*>": 1}
    out = []
    for s in sents[:limit]:
        enc = []
        for w, t in s:
            rare = counts[w] <= RARE
            wid = 0 if rare else words.setdefault(w, len(words))
            cids = [1] + [chars.setdefault(c, len(chars)) for c in w] + [1] if rare else None
            enc.append([wid, tags.setdefault(t, len(tags)), cids])
        out.append(enc)
    return {"sentences": out, "words": len(words), "tags": len(tags), "chars": len(chars)}


# ---------------------------------------------------------------- models (worker side)

def dynet_model(dy, sizes: dict, withchar: bool, lr: float = LR):
    """Returns {"train": ..., "train_batch": ...} written against DyNet's API."""
    m = dy.ParameterCollection()
    E = m.add_lookup_parameters((sizes["words"], WEMB))
    C = m.add_lookup_parameters((sizes["chars"], CEMB))
    pH = m.add_parameters((MLP, 2 * HID))
    pO = m.add_parameters((sizes["tags"], MLP))
    fwd = dy.VanillaLSTMBuilder(1, WEMB, HID, m)
    bwd = dy.VanillaLSTMBuilder(1, WEMB, HID, m)
    cfwd = dy.VanillaLSTMBuilder(1, CEMB, WEMB // 2, m)
    cbwd = dy.VanillaLSTMBuilder(1, CEMB, WEMB // 2, m)
    trainer = dy.SimpleSGDTrainer(m, lr)
    trainer.set_clip_threshold(0)

    def loss_of(sent):
        """The loss of one sentence, added to the current graph."""
        H, O = dy.parameter(pH), dy.parameter(pO)
        cf, cb = cfwd.initial_state(), cbwd.initial_state()
        xs = []
        for wid, _, cids in sent:
            if withchar and cids is not None:
                ces = [dy.lookup(C, c) for c in cids]
                xs.append(dy.concatenate([cf.transduce(ces)[-1], cb.transduce(reversed(ces))[-1]]))
            else:
                xs.append(dy.lookup(E, wid))
        fs = fwd.initial_state().transduce(xs)
        bs = bwd.initial_state().transduce(reversed(xs))
        errs = [dy.pickneglogsoftmax(O * dy.tanh(H * dy.concatenate([f, b])), tok[1])
                for f, b, tok in zip(fs, reversed(bs), sent)]
        return dy.esum(errs)

    def train(sent):
        dy.renew_cg()
        loss = loss_of(sent)
        value = loss.scalar_value()
        loss.backward()
        trainer.update()
        return value

    def train_batch(sents):
        """One graph and one update for several sentences (run with autobatching on)."""
        dy.renew_cg()
        loss = dy.esum([loss_of(s) for s in sents])
        value = loss.scalar_value()
        loss.backward()
        trainer.update()
        return value

    return {"train": train, "train_batch": train_batch, "_keep": m}


def torch_model(torch, sizes: dict, withchar: bool):
    nn, F = torch.nn, torch.nn.functional
    E = nn.Embedding(sizes["words"], WEMB, sparse=True)
    C = nn.Embedding(sizes["chars"], CEMB, sparse=True)
    lstm = nn.LSTM(WEMB, HID, bidirectional=True)
    clstm = nn.LSTM(CEMB, WEMB // 2, bidirectional=True)
    H = nn.Linear(2 * HID, MLP, bias=False)
    O = nn.Linear(MLP, sizes["tags"], bias=False)
    modules = [E, C, lstm, clstm, H, O]
    opt = torch.optim.SGD([p for mod in modules for p in mod.parameters()], lr=LR)

    def loss_of(sent):
        if withchar:
            xs = []
            for wid, _, cids in sent:
                if cids is None:
                    xs.append(E(torch.tensor(wid)))
                else:
                    _, (h, _) = clstm(C(torch.tensor(cids)).unsqueeze(1))   # h: (2, 1, 64) last fwd / bwd
                    xs.append(h.reshape(WEMB))
            x = torch.stack(xs)
        else:
            x = E(torch.tensor([tok[0] for tok in sent]))
        out, _ = lstm(x.unsqueeze(1))                                        # (T, 1, 2 HID)
        scores = O(torch.tanh(H(out.squeeze(1))))
        return F.cross_entropy(scores, torch.tensor([tok[1] for tok in sent]), reduction="sum")

    def train(sent):
        loss = loss_of(sent)
        value = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return value

    return {"train": train, "_keep": opt}


def worker(lib: str, task: str, data_path: str, repeats: int, autobatch: int = 0) -> None:

    with open(data_path) as f:
        blob = json.load(f)
    data = blob["sentences"]
    mod = common.import_library(lib, autobatch=bool(autobatch))
    withchar = task.endswith("withchar")
    # The autobatched phase sums the losses of AUTOBATCH sentences per update: the learning rate is
    # divided by that number, so the update is the one of the mean loss (SGD on summed losses diverges).
    fns = (torch_model(mod, blob, withchar) if lib == "torch"
           else dynet_model(mod, blob, withchar, LR / autobatch if autobatch else LR))
    words = sum(len(s) for s in data)
    if autobatch:
        fn, units = fns["train_batch"], [data[i:i + autobatch] for i in range(0, len(data), autobatch)]
        phase = f"train_autobatch{autobatch}"
    else:
        fn, units, phase = fns["train"], data, "train"
    secs, losses = common.time_passes(fn, units, repeats, warmup=max(1, 50 // max(1, autobatch)))
    common.emit({"lib": lib, "task": task, "phase": phase, "words": words, "seconds": secs,
                 "mean_loss": sum(losses) / words})


# ---------------------------------------------------------------- parent

def run(sentences: int = 500, libs=common.LIBS, tasks=TASKS, rounds: int = 2, repeats: int = 2,
        data_dir=None) -> str:
    try:
        train = common.find_data("ud_ewt", data_dir) / "en_ewt-ud-train.conllu"
    except FileNotFoundError as e:   # DatasetMissing: says what is missing and where to get it
        return f"bilstm_tagger: skipped: {e}"
    blob = encode(train, sentences)
    data = blob["sentences"]
    words = sum(len(s) for s in data)
    rare = sum(tok[2] is not None for s in data for tok in s)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(blob, f)
        path = f.name
    script = Path(__file__).resolve()
    rates: dict[tuple, list[float]] = {}
    rss: dict[tuple, float] = {}
    losses: dict[tuple, float] = {}
    notes: list[str] = []
    try:
        for _ in range(rounds):
            for task in tasks:
                for lib in libs:
                    for ab in ([0] if lib == "torch" else [0, AUTOBATCH]):  # PyTorch eager has no autobatching
                        args = ["--worker", lib, "--task", task, "--data", path, "--repeats", str(repeats),
                                "--autobatch", str(ab)]
                        for r in common.run_worker(script, args):
                            if "error" in r:
                                notes.append(r["error"])
                                continue
                            key = (task, r["phase"], lib)
                            rates.setdefault(key, []).extend(r["words"] / s for s in r["seconds"])
                            losses[key] = r["mean_loss"]
                            rss[(task, lib)] = max(rss.get((task, lib), 0.0), r["peak_rss_mb"])
    finally:
        os.unlink(path)

    def rate(task, phase, lib):
        xs = rates.get((task, phase, lib))
        return common.median(xs) if xs else None

    peers = [l for l in libs if l != "dynagraph"]
    headers = ["task / phase"] + [f"{LIB_TITLES[l]} words/s" for l in libs]
    if "dynagraph" in libs:
        headers += [f"vs {LIB_TITLES[p]}" for p in peers]
    rows = []
    for task in tasks:
        for phase in ("train", f"train_autobatch{AUTOBATCH}"):
            row = [f"{task} {phase}"] + [common.fmt_num(rate(task, phase, l)) if rate(task, phase, l) else "-"
                                         for l in libs]
            if "dynagraph" in libs:
                row += [common.ratio(rate(task, phase, p), rate(task, phase, "dynagraph"), lower_is_better=False)
                        for p in peers]
            rows.append(row)
    out = [f"bilstm_tagger: UD EWT train (first {len(data)} sentences, {words} words, {rare} rare words "
           f"(count <= {RARE}) go through the char BiLSTM in -withchar), word emb {WEMB}, char emb {CEMB}, "
           f"BiLSTM {HID}+{HID}, MLP {MLP}, SimpleSGD; unbatched (one sentence per graph) and autobatched "
           f"({AUTOBATCH} sentences per graph); median of {rounds}x{repeats} passes",
           common.machine_line(), "", common.format_table(headers, rows), "",
           "'vs X' = dynagraph's rate / X's rate (>1: dynagraph faster).",
           "mean loss per word of the last timed pass (sanity check that the models train alike; initial "
           "values differ): " + "; ".join(
               f"{task} {phase}: " + ", ".join(f"{LIB_TITLES[l]} {losses[(task, phase, l)]:.3f}"
                                              for l in libs if (task, phase, l) in losses)
               for task in tasks for phase in ("train", f"train_autobatch{AUTOBATCH}")),
           "peak RSS (MiB): " + "; ".join(f"{task}: " + ", ".join(f"{LIB_TITLES[l]}={rss[(task, l)]:.0f}"
                                                                  for l in libs if (task, l) in rss)
                                          for task in tasks)]
    if notes:
        out += ["", "notes:"] + [f"  {n}" for n in dict.fromkeys(notes)]
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=common.LIBS, help=argparse.SUPPRESS)
    ap.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--autobatch", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", default=None, help="UD EWT folder (default $DYNAGRAPH_UD_EWT_DIR, "
                    "else ../shared/data/ud_ewt beside the checkout)")
    ap.add_argument("--sentences", type=int, default=500)
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    ap.add_argument("--libs", nargs="+", choices=common.LIBS, default=list(common.LIBS))
    ap.add_argument("--rounds", type=int, default=2, help="interleaved runs of every worker")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes over the sentences per worker")
    ap.add_argument("--quick", action="store_true", help="100 sentences, 1 round, 1 pass")
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.task, a.data, a.repeats, a.autobatch)
        return
    if a.quick:
        a.sentences, a.rounds, a.repeats = 100, 1, 1
    print(run(a.sentences, tuple(a.libs), tuple(a.tasks), a.rounds, a.repeats, a.data_dir))


if __name__ == "__main__":
    main()
