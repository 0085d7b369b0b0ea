"""Train and evaluate a Tree-LSTM classifier on ListOps (default) or SST.

    python examples/treelstm/train.py                   # ListOps, default sizes
    python examples/treelstm/train.py --full            # paper-sized ListOps data
    python examples/treelstm/train.py --data sst --sst-dir /path/to/sst
    python examples/treelstm/train.py --eval-only       # reload --model-out, evaluate

Importable pieces (reused by the distributed trainer):

* ``prepare_data(args)`` -> (train, dev, test) lists of :class:`Example`; it
  also fills ``args.tokens`` and ``args.num_classes``;
* ``build_model(pc, args)`` -> :class:`TreeLSTMClassifier` in ``pc``;
* ``loss_fn(model, example)`` -> the example's loss expression;
* ``train(args)`` -> dict of results.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass

from tqdm import tqdm

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
try:
    import dynagraph as dy
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))
    import dynagraph as dy
from dynagraph.data import OPERATORS, Tree, generate_listops, read_sst_trees  # noqa: E402
from dynagraph.training import HelpFormatter, KeepBest  # noqa: E402
from model import TreeLSTMClassifier  # noqa: E402

LISTOPS_TOKENS = ["<unk>"] + [str(d) for d in range(10)] + list(OPERATORS)


@dataclass
class Example:
    tree: Tree
    label: int


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--data", choices=["listops", "sst"], default="listops")
    p.add_argument("--sst-dir", default="/work/shared/data/sst", help="folder with SST train/dev/test.txt")
    p.add_argument("--init-from", default=None, metavar="MODEL",
                   help="start from a model saved by an earlier run (its sizes win over "
                        "--emb-dim/--hidden-dim), e.g. one trained on the default ListOps for --full")
    p.add_argument("--full", action="store_true",
                   help="paper-sized ListOps: 90k training expressions, depth up to 6, 5 arguments")
    p.add_argument("--warmup-epochs", type=int, default=None,
                   help="with --full: epochs on depth-4 data first (a curriculum; without it training "
                        "sits on a ~64 %% plateau); default 3 with --full, else 0")
    p.add_argument("--train-size", type=int, default=None, help="ListOps training expressions (default 40000)")
    p.add_argument("--dev-size", type=int, default=1000)
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--max-depth", type=int, default=None, help="ListOps nesting depth (default 4)")
    p.add_argument("--max-args", type=int, default=None, help="ListOps arguments per operator (default 4)")
    p.add_argument("--seed", type=int, default=1, help="model and shuffling seed")
    p.add_argument("--data-seed", type=int, default=1, help="train split seed; dev/test use +1000/+2000")
    p.add_argument("--composition", choices=["chain", "nary", "childsum"], default=None,
                   help="Tree-LSTM composition (default chain for ListOps, nary (binary) for SST)")
    p.add_argument("--emb-dim", type=int, default=None, help="default 32 (ListOps), 100 (SST)")
    p.add_argument("--hidden-dim", type=int, default=None, help="default 64 (ListOps), 150 (SST)")
    p.add_argument("--epochs", type=int, default=None, help="default 8 (ListOps), 10 (SST)")
    p.add_argument("--batch-size", type=int, default=1, help="trees per update (one graph)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 0.002)")
    p.add_argument("--lr-decay", type=float, default=0.7, help="learning rate factor after each epoch past half")
    p.add_argument("--clip", type=float, default=5.0, help="gradient clipping threshold")
    p.add_argument("--autobatch", action="store_true",
                   help="run each minibatch graph with the autobatching executor (not faster for these small cells)")
    p.add_argument("--model-out", default="runs/treelstm/model", help="dy.save basename")
    p.add_argument("--eval-only", action="store_true", help="load --model-out and evaluate on the test set")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    return fill_defaults(args)


def fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Dataset-dependent defaults for options left at None."""
    listops = args.data == "listops"
    full = listops and getattr(args, "full", False)
    defaults = {
        "train_size": 90000 if full else 40000, "max_depth": 6 if full else 4, "max_args": 5 if full else 4,
        "composition": "chain" if listops else "nary", "emb_dim": 32 if listops else 100,
        "hidden_dim": (96 if full else 64) if listops else 150, "epochs": 8 if listops else 10,
        "lr": 0.002, "warmup_epochs": 3 if full else 0,
    }
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


# ---- data
def prepare_data(args):
    """(train, dev, test) lists of :class:`Example`; sets ``args.tokens`` and ``args.num_classes``."""
    if args.data == "listops":
        splits = [generate_listops(n, max_depth=args.max_depth, max_args=args.max_args, seed=args.data_seed + off)
                  for n, off in ((args.train_size, 0), (args.dev_size, 1000), (args.test_size, 2000))]
        args.tokens, args.num_classes = list(LISTOPS_TOKENS), 10
        return tuple([Example(ex.tree, ex.answer) for ex in split] for split in splits)
    splits = []
    for name in ("train", "dev", "test"):
        path = os.path.join(args.sst_dir, f"{name}.txt")
        splits.append([Example(t, int(t.label)) for t in read_sst_trees(path)])
    if getattr(args, "train_size", None):
        splits[0] = splits[0][: args.train_size]
    counts = {}
    for ex in splits[0]:
        for leaf in ex.tree.leaves():
            counts[leaf.word] = counts.get(leaf.word, 0) + 1
    args.tokens = ["<unk>"] + sorted(w for w, c in counts.items() if c >= 2)
    args.num_classes = 5
    return tuple(splits)


# ---- model and loss
def build_model(pc, args) -> TreeLSTMClassifier:
    """The classifier for ``args`` (call :func:`prepare_data` first for SST's vocabulary)."""
    tokens = getattr(args, "tokens", None) or LISTOPS_TOKENS
    num_classes = getattr(args, "num_classes", None) or 10
    max_children = max(2, args.max_args) if args.data == "listops" else 2
    model = TreeLSTMClassifier(pc, tokens, num_classes, args.emb_dim, args.hidden_dim, args.composition,
                               max_children, node_inputs=args.data == "listops")
    model.all_node_loss = args.data == "sst"
    return model


def loss_fn(model, example):
    """Cross-entropy of the root label (ListOps), or summed over all labelled nodes (SST)."""
    if getattr(model, "all_node_loss", False):
        losses = [dy.pickneglogsoftmax(model.logits(h), int(node.label))
                  for node, h in model.encode(example.tree, per_node=True)]
        return dy.esum(losses)
    return dy.pickneglogsoftmax(model.logits(model.encode(example.tree)), example.label)


def accuracy(model, examples, batch_size: int = 64, desc: str = "eval", quiet: bool = True) -> float:
    """Root-label accuracy, scoring ``batch_size`` trees per graph."""
    if not examples:
        return 0.0
    correct = 0
    for i in tqdm(range(0, len(examples), batch_size), desc=desc, disable=quiet, leave=False):
        chunk = examples[i: i + batch_size]
        dy.renew_cg()
        logits = [model.logits(model.encode(ex.tree)) for ex in chunk]
        dy.forward(logits)
        correct += sum(int(l.npvalue().argmax() == ex.label) for l, ex in zip(logits, chunk))
    return correct / len(examples)


# ---- training
def train(args) -> dict:
    """Trains (or, with ``args.eval_only``, loads) and evaluates; returns the figures."""
    args = fill_defaults(args)
    t_start = time.time()
    if args.warmup_epochs and args.data == "listops" and not args.init_from and not args.eval_only:
        # Curriculum: the same model first learns on shallower (depth <= 4) expressions.
        warm = argparse.Namespace(**vars(args))
        warm.full, warm.epochs, warm.warmup_epochs = False, args.warmup_epochs, 0
        warm.max_depth, warm.train_size = min(4, args.max_depth - 1), min(40000, args.train_size)
        warm.model_out = args.model_out + ".warmup"
        print(f"warm-up: {warm.epochs} epochs on depth-{warm.max_depth} ListOps", flush=True)
        warm_results = train(warm)
        print(f"warm-up done: test accuracy {warm_results['test_accuracy'] * 100:.2f}% on the shallower data",
              flush=True)
        args.init_from = warm.model_out
    dy.init(seed=args.seed, autobatch=bool(getattr(args, "autobatch", False)))
    train_set, dev_set, test_set = prepare_data(args)
    pc = dy.ParameterCollection()
    if args.eval_only:
        model = dy.load(args.model_out, pc)[0]
        model.all_node_loss = args.data == "sst"
        acc = accuracy(model, test_set, desc="test", quiet=args.quiet)
        return {"test_accuracy": acc, "wall_time_s": time.time() - t_start, "test_size": len(test_set)}

    if getattr(args, "init_from", None):  # curriculum: go on from a model trained on easier data
        model = dy.load(args.init_from, pc)[0]
        model.all_node_loss = args.data == "sst"
    else:
        model = build_model(pc, args)
    trainer = dy.AdamTrainer(pc, args.lr)
    trainer.set_clip_threshold(args.clip)
    rng = random.Random(args.seed)
    order = list(range(len(train_set)))
    history, seen, train_time = [], 0, 0.0
    keep = KeepBest(pc, args.model_out + ".best")    # the parameters of the best epoch on dev
    for epoch in range(args.epochs):
        rng.shuffle(order)
        t0, total = time.time(), 0.0
        bar = tqdm(range(0, len(order), args.batch_size), desc=f"epoch {epoch + 1}/{args.epochs}",
                   disable=args.quiet, leave=False)
        for i in bar:
            dy.renew_cg()
            batch = [train_set[j] for j in order[i: i + args.batch_size]]
            loss = dy.esum([loss_fn(model, ex) for ex in batch])
            total += loss.value()
            loss.backward()
            trainer.update()
            seen += len(batch)
        train_time += time.time() - t0
        dev_acc = accuracy(model, dev_set, desc="dev", quiet=args.quiet)
        history.append({"epoch": epoch + 1, "loss": total / max(1, len(order)), "dev_accuracy": dev_acc})
        if not getattr(args, "silent", False):
            print(f"epoch {epoch + 1}: loss {total / max(1, len(order)):.4f}  dev acc {dev_acc:.4f}  "
                  f"({time.time() - t0:.0f}s)", flush=True)
        keep.update(dev_acc)
        if epoch + 1 >= args.epochs / 2:
            trainer.learning_rate *= args.lr_decay
    # Evaluate the best model on dev, kept as the output model.
    best_dev = keep.restore()
    dy.save(args.model_out, [model])
    test_acc = accuracy(model, test_set, desc="test", quiet=args.quiet)
    wall = time.time() - t_start
    return {"test_accuracy": test_acc, "best_dev_accuracy": best_dev, "history": history,
            "train_sentences_per_s": seen / max(train_time, 1e-9), "wall_time_s": wall,
            "train_size": len(train_set), "test_size": len(test_set), "model_out": args.model_out}


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = train(args)
    print(f"\n== Tree-LSTM on {args.data} ({'eval only' if args.eval_only else args.composition})")
    print(f"test accuracy: {results['test_accuracy'] * 100:.2f}% on {results['test_size']} examples")
    if not args.eval_only:
        print(f"best dev accuracy: {results['best_dev_accuracy'] * 100:.2f}%")
        print(f"training speed: {results['train_sentences_per_s']:.0f} sentences/s")
        print(f"model saved to {results['model_out']}.data/.meta")
    print(f"wall time: {results['wall_time_s']:.1f}s")
    return results


if __name__ == "__main__":
    main()
