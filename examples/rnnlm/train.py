"""Train and evaluate a minibatched LSTM language model on the Penn Treebank.

    python examples/rnnlm/train.py                     # PTB, dynet-benchmark's rnnlm-batch sizes
    python examples/rnnlm/train.py --batch-size 16 --trainer sgd --lr 0.5
    python examples/rnnlm/train.py --eval-only         # reload --model-out, test perplexity

A minibatch is one graph: sentences are grouped by length (sorted, then cut
into consecutive chunks of --batch-size), fed through the LSTM together with
``dy.lookup_batch`` and scored with ``dy.pickneglogsoftmax_batch``; the few
shorter sentences of a chunk are padded and masked (see model.py).

Importable pieces: ``prepare_data(args)``, ``make_batches(sents, size)``,
``build_model(pc, args, tokens)``, ``perplexity(model, batches)``, ``train(args)``.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time

from tqdm import tqdm

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))
sys.path.insert(0, _HERE)
try:
    import dynagraph as dy
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, _REPO)
    import dynagraph as dy
from dynagraph.data import Vocab, read_ptb_lm  # noqa: E402
from dynagraph.data.sources import exit_if_missing, find_dataset  # noqa: E402
from dynagraph.training import HelpFormatter, KeepBest  # noqa: E402
from model import EOS, RNNLanguageModel  # noqa: E402

SPLITS = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}
TRAINERS = {
    # name: (class name, default learning rate)
    "adam": ("AdamTrainer", 0.002),
    "sgd": ("SimpleSGDTrainer", 0.5),
    "momentum": ("MomentumSGDTrainer", 0.1),
    "adagrad": ("AdagradTrainer", 0.1),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--data-dir", default=None, help="folder with ptb.{train,valid,test}.txt (default "
                   "$DYNAGRAPH_PTB_DIR, else ../shared/data/ptb beside the checkout)")
    p.add_argument("--batch-size", type=int, default=64, help="sentences per minibatch (one graph, one update)")
    p.add_argument("--eval-batch-size", type=int, default=64, help="sentences per graph when evaluating")
    p.add_argument("--emb-dim", type=int, default=128)
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0,
                   help="dropout on the LSTM's input and output (0: dynet-benchmark's configuration)")
    p.add_argument("--softmax-once", action="store_true",
                   help="apply the softmax layer once to all time steps (same loss, one GEMM instead of one per step)")
    p.add_argument("--trainer", choices=sorted(TRAINERS), default="adam")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: " + ", ".join(f"{k} {v[1]}" for k, v in TRAINERS.items()) + ")")
    p.add_argument("--lr-decay", type=float, default=0.5,
                   help="learning rate factor after an epoch that does not improve validation perplexity")
    p.add_argument("--clip", type=float, default=5.0, help="gradient clipping threshold (0: off)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--patience", type=int, default=2,
                   help="stop after this many epochs in a row without a better validation perplexity")
    p.add_argument("--max-train-sentences", type=int, default=None, help="use only the first N training sentences")
    p.add_argument("--seed", type=int, default=1, help="model and shuffling seed")
    p.add_argument("--model-out", default="runs/rnnlm/model", help="dy.save basename (the best model on valid)")
    p.add_argument("--eval-only", action="store_true", help="load --model-out and report valid/test perplexity")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = TRAINERS[args.trainer][1]
    for name in ("batch_size", "eval_batch_size", "emb_dim", "hidden_dim", "layers", "epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0.0 <= args.dropout < 1.0:
        p.error("--dropout must be in [0, 1)")
    return args


# ---- data
def read_split(data_dir: str, split: str) -> list:
    """The sentences of one split as token lists, each ending with ``<eos>``."""
    return list(read_ptb_lm(os.path.join(data_dir, SPLITS[split]), eos=EOS))


def prepare_data(args, vocab: Vocab | None = None):
    """(vocab, train, valid, test): the vocabulary (built from train unless given)
    and the three splits as lists of id lists."""
    data_dir = find_dataset("ptb", args.data_dir, checkout=_REPO)
    train_tokens = read_split(data_dir, "train")
    if args.max_train_sentences:
        train_tokens = train_tokens[: args.max_train_sentences]
    if vocab is None:
        vocab = Vocab.build(train_tokens, unk="<unk>", specials=(EOS,))
    splits = [[vocab.encode(s) for s in sents]
              for sents in (train_tokens, read_split(data_dir, "valid"), read_split(data_dir, "test"))]
    return (vocab, *splits)


def make_batches(sents: list, size: int) -> list:
    """Chunks of up to ``size`` sentences of (nearly) equal length: sorted longest
    first, then cut into consecutive runs, so only a chunk's tail needs masking."""
    ordered = sorted(sents, key=len, reverse=True)
    return [ordered[i: i + size] for i in range(0, len(ordered), size)]


# ---- model and evaluation
def build_model(pc, args, tokens) -> RNNLanguageModel:
    return RNNLanguageModel(pc, tokens, args.emb_dim, args.hidden_dim, args.layers)


def make_trainer(pc, args):
    cls_name, _ = TRAINERS[args.trainer]
    trainer = getattr(dy, cls_name)(pc, args.lr)
    trainer.set_clip_threshold(args.clip)
    return trainer


def perplexity(model: RNNLanguageModel, batches: list, desc: str = "eval", quiet: bool = True) -> float:
    """exp(mean negative log-likelihood per word), ``<eos>`` counted as a word."""
    total, words = 0.0, 0
    for batch in tqdm(batches, desc=desc, disable=quiet, leave=False):
        dy.renew_cg()
        loss, n = model.batch_loss(batch)
        total += loss.value()
        words += n
    return math.exp(total / max(words, 1))


def _print(args, msg: str) -> None:
    if not args.quiet:
        print(msg, flush=True)


# ---- training
def train(args) -> dict:
    """Trains (or, with ``args.eval_only``, loads) and evaluates; returns the figures."""
    dy.init(seed=args.seed)
    t_start = time.time()
    if args.eval_only:
        pc = dy.ParameterCollection()
        model = dy.load(args.model_out, pc)[0]
        model.softmax_once = args.softmax_once
        vocab = Vocab.from_dict({"tokens": model.tokens, "unk": "<unk>", "specials": [EOS]})
        _, _, valid, test = prepare_data(args, vocab)
        valid_ppl = perplexity(model, make_batches(valid, args.eval_batch_size), "valid", args.quiet)
        test_ppl = perplexity(model, make_batches(test, args.eval_batch_size), "test", args.quiet)
        return {"valid_perplexity": valid_ppl, "test_perplexity": test_ppl, "vocab_size": len(vocab),
                "wall_time_s": time.time() - t_start}

    vocab, train_set, valid, test = prepare_data(args)
    pc = dy.ParameterCollection()
    model = build_model(pc, args, vocab.tokens)
    model.softmax_once = args.softmax_once
    trainer = make_trainer(pc, args)
    rng = random.Random(args.seed)
    batches = make_batches(train_set, args.batch_size)
    valid_batches = make_batches(valid, args.eval_batch_size)
    train_words = sum(len(s) for s in train_set)
    _print(args, f"vocab {len(vocab)}, train {len(train_set)} sentences / {train_words} words "
                 f"in {len(batches)} minibatches of <= {args.batch_size}, valid {len(valid)}, test {len(test)}")
    history, train_time = [], 0.0
    keep = KeepBest(pc, args.model_out + ".best", higher_is_better=False)   # the best epoch on valid
    for epoch in range(1, args.epochs + 1):
        rng.shuffle(batches)
        model.dropout = args.dropout
        t0, total, words = time.time(), 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch}/{args.epochs}", disable=args.quiet, leave=False, unit="batch")
        for k, batch in enumerate(bar):
            dy.renew_cg()
            loss, n = model.batch_loss(batch)
            # The mean over words: the step size does not depend on the batch size or sentence lengths.
            loss = loss * (1.0 / n)
            total += loss.value() * n
            words += n
            loss.backward()
            trainer.update()
            if k % 20 == 0:
                bar.set_postfix(ppl=f"{math.exp(total / words):.0f}", wps=f"{words / (time.time() - t0):.0f}")
        epoch_time = time.time() - t0
        train_time += epoch_time
        model.dropout = 0.0
        valid_ppl = perplexity(model, valid_batches, "valid", args.quiet)
        improved = keep.update(valid_ppl)
        history.append({"epoch": epoch, "train_perplexity": math.exp(total / words), "valid_perplexity": valid_ppl,
                        "words_per_s": words / epoch_time, "epoch_s": epoch_time, "lr": trainer.learning_rate,
                        "elapsed_s": time.time() - t_start})
        _print(args, f"epoch {epoch}: train ppl {math.exp(total / words):.1f}  valid ppl {valid_ppl:.1f}  "
                     f"{words / epoch_time:.0f} words/s  lr {trainer.learning_rate:g}  "
                     f"({epoch_time:.0f}s, {time.time() - t_start:.0f}s total){'' if improved else '  (no better)'}")
        if not improved:
            trainer.learning_rate *= args.lr_decay
            if keep.since_best >= args.patience:
                break
    # The best model on valid is the output model and the one tested.
    best = keep.restore()
    dy.save(args.model_out, [model])
    test_ppl = perplexity(model, make_batches(test, args.eval_batch_size), "test", args.quiet)
    return {"test_perplexity": test_ppl, "best_valid_perplexity": best, "history": history,
            "train_words_per_s": sum(h["words_per_s"] * h["epoch_s"] for h in history) / max(train_time, 1e-9),
            "train_words": train_words, "vocab_size": len(vocab), "wall_time_s": time.time() - t_start,
            "model_out": args.model_out}


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = exit_if_missing(train, args)
    print(f"\n== LSTM language model (emb {args.emb_dim}, hidden {args.hidden_dim}, "
          f"{'eval only' if args.eval_only else f'minibatch {args.batch_size}, {args.trainer}'})")
    if args.eval_only:
        print(f"valid perplexity: {results['valid_perplexity']:.2f}")
    else:
        print(f"best valid perplexity: {results['best_valid_perplexity']:.2f} "
              f"after {len(results['history'])} epochs")
        print(f"training speed: {results['train_words_per_s']:.0f} words/s")
        print(f"model saved to {results['model_out']}.data/.meta")
    print(f"test perplexity: {results['test_perplexity']:.2f}")
    print(f"wall time: {results['wall_time_s']:.1f}s")
    return results


if __name__ == "__main__":
    main()
