"""Label each word's dependency relation (UD EWT) with a Graph-LSTM or a BiLSTM.

    python examples/graphlstm/train.py --model graph      # word order + dependency edges
    python examples/graphlstm/train.py --model bilstm     # word order only (baseline)
    python examples/graphlstm/train.py --model graph --eval-only   # reload --model-out, evaluate

The label is the universal part of the UD relation (``nmod:poss`` -> ``nmod``);
the inputs are the word form (lower-cased) and its UPOS tag, and, for the
Graph-LSTM, the gold dependency tree as typed edges.

Importable pieces: ``load_split(path)``, ``build_vocabs(sentences)``,
``build_model(pc, args, vocabs)``, ``accuracy(model, data)``, ``train(args)``.
"""
from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import List, Optional

from tqdm import tqdm

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))
sys.path.insert(0, _HERE)
try:
    import dynagraph as dy
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, _REPO)
    import dynagraph as dy
from dynagraph.data import read_conllu  # noqa: E402
from dynagraph.data.sources import exit_if_missing, find_dataset  # noqa: E402
from dynagraph.training import HelpFormatter, KeepBest  # noqa: E402
from deprel_tagger import DeprelTagger  # noqa: E402

@dataclass
class Example:
    forms: List[str]      # lower-cased word forms
    upos: List[str]
    heads: List[int]      # CoNLL-U heads: 1-based, 0 for the root
    labels: List[str]     # universal relations


def universal(deprel: str) -> str:
    """The universal part of a UD relation: ``obl:tmod`` -> ``obl``."""
    return deprel.split(":", 1)[0]


def load_split(path, limit: Optional[int] = None) -> List[Example]:
    """The sentences of a CoNLL-U file as :class:`Example` (the first ``limit`` if given)."""
    out = []
    for sent in read_conllu(path):
        if limit is not None and len(out) >= limit:
            break
        if not sent.tokens:
            continue
        toks = sent.tokens
        out.append(Example([t.form.lower() for t in toks], [t.upos for t in toks],
                           [t.head or 0 for t in toks], [universal(t.deprel) for t in toks]))
    return out


def split_path(data_dir, split: str) -> str:
    """The ``*-ud-{split}.conllu`` file of the UD folder (``data_dir``, else by the data rule
    of dynagraph.data.sources); a missing one raises DatasetMissing saying where to get it."""
    folder = find_dataset("ud_ewt", data_dir, checkout=_REPO, files=[f"*-ud-{split}.conllu"])
    return sorted(glob.glob(os.path.join(folder, f"*-ud-{split}.conllu")))[0]


def build_vocabs(sentences, min_count: int = 2):
    """(words, tags, labels) from the training sentences; words seen fewer than
    ``min_count`` times map to ``<unk>`` (index 0, as for tags)."""
    counts = {}
    for ex in sentences:
        for w in ex.forms:
            counts[w] = counts.get(w, 0) + 1
    words = ["<unk>"] + sorted(w for w, c in counts.items() if c >= min_count)
    tags = ["<unk>"] + sorted({t for ex in sentences for t in ex.upos})
    labels = sorted({lab for ex in sentences for lab in ex.labels})
    return words, tags, labels


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--model", choices=["graph", "bilstm"], default="graph",
                   help="graph: word-order and dependency edges; bilstm: the same Graph-LSTM code with "
                        "word-order edges only, i.e. a bidirectional LSTM")
    p.add_argument("--data-dir", default=None, help="folder with *-ud-{train,dev,test}.conllu (default "
                   "$DYNAGRAPH_UD_EWT_DIR, else ../shared/data/ud_ewt beside the checkout)")
    p.add_argument("--train-size", type=int, default=None, help="first N training sentences (None: all)")
    p.add_argument("--dev-size", type=int, default=None, help="first N dev sentences (None: all)")
    p.add_argument("--test-size", type=int, default=None, help="first N test sentences (None: all)")
    p.add_argument("--min-count", type=int, default=2, help="rarer training words map to <unk>")
    p.add_argument("--word-dim", type=int, default=100, help="word embedding size")
    p.add_argument("--tag-dim", type=int, default=25, help="UPOS embedding size")
    p.add_argument("--hidden-dim", type=int, default=100, help="H per direction (a word's state is 2H)")
    p.add_argument("--mlp-dim", type=int, default=100, help="hidden units of the label MLP")
    p.add_argument("--dropout", type=float, default=0.3, help="on the inputs, the states and the MLP layer")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=8, help="sentences per graph and per update")
    p.add_argument("--lr", type=float, default=0.002, help="Adam learning rate")
    p.add_argument("--lr-decay", type=float, default=0.8, help="learning rate factor after each epoch past half")
    p.add_argument("--clip", type=float, default=5.0, help="gradient clipping threshold")
    p.add_argument("--autobatch", action="store_true",
                   help="run each minibatch graph with the autobatching executor (measured slower here)")
    p.add_argument("--seed", type=int, default=1, help="model and shuffling seed")
    p.add_argument("--model-out", default=None, help="dy.save basename (None: runs/graphlstm/<model>)")
    p.add_argument("--eval-only", action="store_true", help="load --model-out and evaluate on dev and test")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.model_out is None:
        args.model_out = os.path.join("runs", "graphlstm", args.model)
    return args


# ---- model and evaluation
def build_model(pc, args, vocabs) -> DeprelTagger:
    words, tags, labels = vocabs
    return DeprelTagger(pc, words, tags, labels, graph=args.model == "graph", word_dim=args.word_dim,
                        tag_dim=args.tag_dim, hidden_dim=args.hidden_dim, mlp_dim=args.mlp_dim,
                        dropout=args.dropout)


def label_ids(model: DeprelTagger, ex: Example) -> List[int]:
    """Gold label ids; -1 for a label the model has never seen (always wrong)."""
    index = {lab: i for i, lab in enumerate(model.labels)}
    return [index.get(lab, -1) for lab in ex.labels]


def predict(model: DeprelTagger, examples, batch_size: int = 32) -> List[List[str]]:
    """Predicted labels of every word, ``batch_size`` sentences per graph."""
    out = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i: i + batch_size]
        dy.renew_cg()
        logits = [model.logits(ex.forms, ex.upos, ex.heads) for ex in chunk]
        dy.forward(logits)
        for lg in logits:
            scores = lg.npvalue().reshape(len(model.labels), -1)   # (labels, n)
            out.append([model.labels[k] for k in scores.argmax(axis=0)])
    return out


def accuracy(model: DeprelTagger, examples, batch_size: int = 32) -> float:
    """Fraction of words whose relation is right (punctuation included)."""
    total = sum(len(ex.labels) for ex in examples)
    if not total:
        return 0.0
    correct = sum(p == g for ex, pred in zip(examples, predict(model, examples, batch_size))
                  for p, g in zip(pred, ex.labels))
    return correct / total


# ---- training
def train(args) -> dict:
    """Trains (or, with ``args.eval_only``, loads) and evaluates; returns the figures."""
    dy.init(seed=args.seed, autobatch=bool(args.autobatch))
    t_start = time.time()
    dev_set = load_split(split_path(args.data_dir, "dev"), args.dev_size)
    test_set = load_split(split_path(args.data_dir, "test"), args.test_size)
    if args.eval_only:
        pc = dy.ParameterCollection()
        model = dy.load(args.model_out, pc)[0]
        return {"model": "graph" if model.graph else "bilstm", "dev_accuracy": accuracy(model, dev_set),
                "test_accuracy": accuracy(model, test_set), "wall_time_s": time.time() - t_start,
                "test_words": sum(len(ex.forms) for ex in test_set), "model_out": args.model_out}

    train_set = load_split(split_path(args.data_dir, "train"), args.train_size)
    pc = dy.ParameterCollection()
    model = build_model(pc, args, build_vocabs(train_set, args.min_count))
    gold = [label_ids(model, ex) for ex in train_set]
    trainer = dy.AdamTrainer(pc, args.lr)
    trainer.set_clip_threshold(args.clip)
    rng = random.Random(args.seed)
    order = list(range(len(train_set)))
    history, words_seen, train_time = [], 0, 0.0
    keep = KeepBest(pc, args.model_out + ".best")    # the parameters of the best epoch on dev
    for epoch in range(args.epochs):
        rng.shuffle(order)
        t0, total, n_words = time.time(), 0.0, 0
        bar = tqdm(range(0, len(order), args.batch_size), desc=f"epoch {epoch + 1}/{args.epochs}",
                   disable=args.quiet, leave=False, unit="batch")
        for i in bar:
            dy.renew_cg()
            batch = order[i: i + args.batch_size]
            losses = [model.loss(train_set[j].forms, train_set[j].upos, train_set[j].heads, gold[j]) for j in batch]
            loss = dy.esum(losses)
            total += loss.value()
            loss.backward()
            trainer.update()
            n_words += sum(len(gold[j]) for j in batch)
            if i % (50 * args.batch_size) == 0:
                bar.set_postfix(loss=f"{total / max(1, n_words):.3f}",
                                words_per_s=f"{n_words / max(time.time() - t0, 1e-9):.0f}")
        epoch_time = time.time() - t0
        train_time += epoch_time
        words_seen += n_words
        dev_acc = accuracy(model, dev_set)
        history.append({"epoch": epoch + 1, "loss": total / max(1, n_words), "dev_accuracy": dev_acc,
                        "words_per_s": n_words / max(epoch_time, 1e-9), "time_s": epoch_time})
        print(f"epoch {epoch + 1}: loss/word {total / max(1, n_words):.4f}  dev acc {dev_acc:.4f}  "
              f"{n_words / max(epoch_time, 1e-9):.0f} words/s  ({time.time() - t0:.0f}s)", flush=True)
        keep.update(dev_acc)
        if epoch + 1 >= args.epochs / 2:
            trainer.learning_rate *= args.lr_decay
    # The best model on dev is the output model.
    best_dev = keep.restore()
    dy.save(args.model_out, [model])
    test_acc = accuracy(model, test_set)
    return {"model": args.model, "test_accuracy": test_acc, "best_dev_accuracy": best_dev, "history": history,
            "train_words_per_s": words_seen / max(train_time, 1e-9), "train_time_s": train_time,
            "wall_time_s": time.time() - t_start, "train_sentences": len(train_set),
            "test_words": sum(len(ex.forms) for ex in test_set), "num_labels": len(model.labels),
            "model_out": args.model_out}


def main(argv=None) -> dict:
    args = parse_args(argv)
    r = exit_if_missing(train, args)
    kind = {"graph": "Graph-LSTM (word order + dependency edges)", "bilstm": "BiLSTM (word order only)"}[r["model"]]
    print(f"\n== {kind}{', eval only' if args.eval_only else ''}")
    print(f"test deprel accuracy: {r['test_accuracy'] * 100:.2f}% on {r['test_words']} words")
    if args.eval_only:
        print(f"dev deprel accuracy: {r['dev_accuracy'] * 100:.2f}%")
    else:
        print(f"best dev deprel accuracy: {r['best_dev_accuracy'] * 100:.2f}%")
        print(f"training speed: {r['train_words_per_s']:.0f} words/s ({r['train_sentences']} sentences, "
              f"{len(r['history'])} epochs, {r['train_time_s']:.0f}s)")
        print(f"model saved to {r['model_out']}.data/.meta")
    print(f"wall time: {r['wall_time_s']:.1f}s")
    return r


if __name__ == "__main__":
    main()
