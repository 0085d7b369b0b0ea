"""Train and evaluate a BiLSTM-CRF UPOS tagger on Universal Dependencies (English EWT).

    python examples/tagger/train.py                         # the documented full setting
    python examples/tagger/train.py --epochs 1 --train-limit 2000
    python examples/tagger/train.py --batching auto         # per-sentence graphs, autobatched
    python examples/tagger/train.py --eval-only             # reload --model-out, evaluate on test

Importable pieces (used by the smoke test):

* ``prepare_data(args)`` -> (train, dev, test) lists of :class:`Example`;
* ``build_model(pc, args, train_set)`` -> :class:`BiLSTMCRFTagger` in ``pc``;
* ``evaluate(model, examples)`` -> (accuracy, predictions);
* ``train(args)`` -> dict of results.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parent.parent
sys.path.insert(0, str(_HERE))
try:
    import dynagraph as dy
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(_REPO))
    import dynagraph as dy
from dynagraph.data import Vocab, read_conllu  # noqa: E402
from dynagraph.data.sources import exit_if_missing, find_dataset  # noqa: E402
from dynagraph.training import HelpFormatter, KeepBest  # noqa: E402
from tagger_model import UNK, BiLSTMCRFTagger, normalize  # noqa: E402

SPLITS = ("train", "dev", "test")
DEFAULT_LR = {"adam": 0.002, "sgd": 0.1, "momentum": 0.02}


@dataclass
class Example:
    words: list
    tags: list


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help="folder with PREFIX-{train,dev,test}.conllu (default $DYNAGRAPH_UD_EWT_DIR, "
                        "else ../shared/data/ud_ewt beside the checkout)")
    p.add_argument("--prefix", default="en_ewt-ud", help="file name prefix: PREFIX-train.conllu etc.")
    p.add_argument("--train-limit", type=int, default=None, help="use the first N training sentences")
    p.add_argument("--dev-limit", type=int, default=None, help="use the first N dev sentences")
    p.add_argument("--test-limit", type=int, default=None, help="use the first N test sentences")
    p.add_argument("--word-dim", type=int, default=100)
    p.add_argument("--char-dim", type=int, default=30)
    p.add_argument("--char-hidden", type=int, default=50, help="character BiLSTM output (both directions)")
    p.add_argument("--hidden", type=int, default=200, help="sentence BiLSTM output (both directions)")
    p.add_argument("--dropout", type=float, default=0.33, help="on the BiLSTMs' inputs and outputs")
    p.add_argument("--word-dropout", type=float, default=0.25,
                   help="alpha: a training word of count c is replaced by <unk> with probability alpha/(alpha+c)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32, help="sentences per update (one graph)")
    p.add_argument("--batching", choices=["length", "auto"], default="length",
                   help="length: batches of equal-length sentences run as batched expressions; "
                        "auto: random sentences, one sub-graph each, run by the autobatching executor")
    p.add_argument("--trainer", choices=sorted(DEFAULT_LR), default="adam")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: adam 0.002, sgd 0.1, momentum 0.02)")
    p.add_argument("--lr-decay", type=float, default=0.7, help="learning rate factor after each epoch past half")
    p.add_argument("--clip", type=float, default=5.0, help="gradient clipping threshold (0: off)")
    p.add_argument("--seed", type=int, default=1, help="model, dropout and shuffling seed")
    p.add_argument("--model-out", default="runs/tagger/model", help="dy.save basename")
    p.add_argument("--eval-only", action="store_true", help="load --model-out and evaluate on the test set")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.trainer]
    return args


# ---- data
def read_split(args, split: str, limit=None) -> list:
    path = data_folder(args) / f"{args.prefix}-{split}.conllu"
    out = []
    for sent in read_conllu(path):
        if len(sent):
            out.append(Example([t.form for t in sent.tokens], [t.upos for t in sent.tokens]))
        if limit is not None and len(out) >= limit:
            break
    return out


def data_folder(args) -> Path:
    """The UD folder by the data rule of dynagraph.data.sources, checked to hold ``--prefix``'s files."""
    return find_dataset("ud_ewt", args.data_dir, checkout=_REPO,
                        files=[f"{args.prefix}-{split}.conllu" for split in SPLITS])


def prepare_data(args):
    """(train, dev, test) lists of :class:`Example` read from ``args.data_dir``."""
    return tuple(read_split(args, split, getattr(args, f"{split}_limit")) for split in SPLITS)


def build_model(pc, args, train_set) -> BiLSTMCRFTagger:
    """A tagger whose vocabularies come from ``train_set``."""
    words = Vocab.build([[normalize(w) for w in ex.words] for ex in train_set], unk=UNK)
    chars = Vocab.build([list(w) for ex in train_set for w in ex.words], unk=UNK)
    tags = sorted({t for ex in train_set for t in ex.tags})
    return BiLSTMCRFTagger(pc, words.tokens, chars.tokens, tags, args.word_dim, args.char_dim,
                           args.char_hidden, args.hidden, args.dropout)


def length_batches(examples, batch_size: int, rng=None) -> list:
    """Lists of indices of equal-length examples, at most ``batch_size`` each (shuffled with ``rng``)."""
    by_len: dict = {}
    for i, ex in enumerate(examples):
        by_len.setdefault(len(ex.words), []).append(i)
    batches = []
    for idx in by_len.values():
        if rng is not None:
            rng.shuffle(idx)
        batches += [idx[k: k + batch_size] for k in range(0, len(idx), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def evaluate(model, examples, batch_size: int = 64, desc: str = "eval", quiet: bool = True):
    """Token accuracy and the predicted tag strings (in the order of ``examples``)."""
    preds = [None] * len(examples)
    for idx in tqdm(length_batches(examples, batch_size), desc=desc, disable=quiet, leave=False):
        dy.renew_cg()
        for i, path in zip(idx, model.predict([examples[i].words for i in idx])):
            preds[i] = [model.tags[k] for k in path]
    total = sum(len(ex.tags) for ex in examples)
    correct = sum(p == g for ex, pred in zip(examples, preds) for p, g in zip(pred, ex.tags))
    return correct / max(1, total), preds


# ---- training
def make_trainer(pc, args):
    if args.trainer == "adam":
        trainer = dy.AdamTrainer(pc, args.lr)
    elif args.trainer == "momentum":
        trainer = dy.MomentumSGDTrainer(pc, args.lr)
    else:
        trainer = dy.SimpleSGDTrainer(pc, args.lr)
    trainer.set_clip_threshold(max(args.clip, 0.0))
    return trainer


class WordDropout:
    """Replaces a training word of count c by <unk> with probability alpha / (alpha + c)."""

    def __init__(self, model, train_set, alpha: float, rng):
        self.model, self.alpha, self.rng = model, alpha, rng
        self.counts = Counter(normalize(w) for ex in train_set for w in ex.words)

    def ids(self, words) -> list:
        out = []
        for w in words:
            i = self.model.word_id(w)
            if self.alpha > 0:
                c = self.counts[normalize(w)]
                if self.rng.random() < self.alpha / (self.alpha + c):
                    i = 0
            out.append(i)
        return out


def batch_loss(model, batch, dropper, autobatch: bool):
    """The summed loss of the examples of one update: one batched expression (equal lengths), or
    one sub-graph per sentence for the autobatching executor."""
    if autobatch:
        return dy.esum([model.loss([ex.words], [model.tag_ids(ex.tags)], [dropper.ids(ex.words)]) for ex in batch])
    return model.loss([ex.words for ex in batch], [model.tag_ids(ex.tags) for ex in batch],
                      [dropper.ids(ex.words) for ex in batch])


def train(args) -> dict:
    """Trains (or, with ``args.eval_only``, loads) and evaluates; returns the figures."""
    autobatch = args.batching == "auto"
    dy.init(seed=args.seed, autobatch=autobatch)
    t_start = time.time()
    train_set, dev_set, test_set = prepare_data(args)
    test_tokens = sum(len(ex.words) for ex in test_set)
    if args.eval_only:
        pc = dy.ParameterCollection()
        model = dy.load(args.model_out, pc)[0]
        t0 = time.time()
        acc, preds = evaluate(model, test_set, desc="test", quiet=args.quiet)
        return {"test_accuracy": acc, "test_predictions": preds, "test_tokens": test_tokens,
                "eval_tokens_per_s": test_tokens / max(time.time() - t0, 1e-9),
                "wall_time_s": time.time() - t_start}

    pc = dy.ParameterCollection()
    model = build_model(pc, args, train_set)
    trainer = make_trainer(pc, args)
    rng = random.Random(args.seed)
    dropper = WordDropout(model, train_set, args.word_dropout, rng)
    history, tokens_seen, train_time = [], 0, 0.0
    keep = KeepBest(pc, args.model_out + ".best")    # the parameters of the best epoch on dev
    for epoch in range(args.epochs):
        if autobatch:
            order = list(range(len(train_set)))
            rng.shuffle(order)
            batches = [order[k: k + args.batch_size] for k in range(0, len(order), args.batch_size)]
        else:
            batches = length_batches(train_set, args.batch_size, rng)
        t0, total, epoch_tokens = time.time(), 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.quiet, leave=False)
        for idx in bar:
            dy.renew_cg()
            batch = [train_set[i] for i in idx]
            loss = batch_loss(model, batch, dropper, autobatch)
            total += loss.value()
            loss.backward()
            trainer.update()
            epoch_tokens += sum(len(ex.words) for ex in batch)
            bar.set_postfix(loss=f"{total / max(1, epoch_tokens):.3f}", refresh=False)
        seconds = time.time() - t0
        train_time += seconds
        tokens_seen += epoch_tokens
        dev_acc, _ = evaluate(model, dev_set, desc="dev", quiet=args.quiet)
        history.append({"epoch": epoch + 1, "loss_per_token": total / max(1, epoch_tokens),
                        "dev_accuracy": dev_acc, "tokens_per_s": epoch_tokens / max(seconds, 1e-9)})
        print(f"epoch {epoch + 1}: loss/token {total / max(1, epoch_tokens):.4f}  dev UPOS {dev_acc * 100:.2f}%  "
              f"{epoch_tokens / max(seconds, 1e-9):.0f} tokens/s ({seconds:.0f}s)", flush=True)
        keep.update(dev_acc)
        if epoch + 1 >= args.epochs / 2:
            trainer.learning_rate *= args.lr_decay
    # The best model on dev becomes the output model.
    best_dev = keep.restore()
    dy.save(args.model_out, [model])
    t0 = time.time()
    test_acc, preds = evaluate(model, test_set, desc="test", quiet=args.quiet)
    eval_rate = test_tokens / max(time.time() - t0, 1e-9)
    return {"test_accuracy": test_acc, "test_predictions": preds, "best_dev_accuracy": best_dev,
            "history": history, "train_tokens_per_s": tokens_seen / max(train_time, 1e-9),
            "eval_tokens_per_s": eval_rate, "wall_time_s": time.time() - t_start,
            "train_sentences": len(train_set), "test_tokens": test_tokens, "model_out": args.model_out}


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = exit_if_missing(train, args)
    print(f"\n== BiLSTM-CRF UPOS tagger ({'eval only' if args.eval_only else f'{args.batching} batching'})")
    print(f"test UPOS accuracy: {results['test_accuracy'] * 100:.2f}% on {results['test_tokens']} tokens")
    if not args.eval_only:
        print(f"best dev UPOS accuracy: {results['best_dev_accuracy'] * 100:.2f}%")
        print(f"training speed: {results['train_tokens_per_s']:.0f} tokens/s")
        print(f"model saved to {results['model_out']}.meta (and the .data.<hex> file it names)")
    print(f"tagging speed: {results['eval_tokens_per_s']:.0f} tokens/s")
    print(f"wall time: {results['wall_time_s']:.1f}s")
    return results


if __name__ == "__main__":
    main()
