"""Train and evaluate a Tree-LSTM classifier on ListOps (default) or SST.

    python examples/treelstm/train.py                   # ListOps, default sizes, --seed 1
    python examples/treelstm/train.py --full            # paper-sized ListOps data
    python examples/treelstm/train.py --data sst        # SST from --data-dir or $DYNAGRAPH_SST_DIR
    python examples/treelstm/train.py --eval-only       # reload --model-out, evaluate

Each run writes beside its model (default ``runs/treelstm/<data set>/model``):
the model (``.data``/``.meta``), ``.run.json`` (data set, options, per-epoch figures)
and the learning curve ``.curve.csv`` / ``.curve.svg`` (dev accuracy per epoch).

Importable pieces (reused by the distributed trainer):

* ``prepare_data(args)`` -> (train, dev, test) lists of :class:`Example`; it
  also fills ``args.tokens`` and ``args.num_classes``;
* ``build_model(pc, args)`` -> :class:`TreeLSTMClassifier` in ``pc``;
* ``loss_fn(model, example)`` -> the example's loss expression;
* ``train(args)`` -> dict of results.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass

from tqdm import tqdm

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))
sys.path.insert(0, _HERE)
try:
    import dynagraph as dy
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, _REPO)
    import dynagraph as dy
from dynagraph.data import OPERATORS, Tree, generate_listops, read_sst_trees  # noqa: E402
from dynagraph.data.sources import exit_if_missing, find_dataset  # noqa: E402
from dynagraph.learning_curve import write_learning_curve  # noqa: E402
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
    p.add_argument("--data-dir", "--sst-dir", dest="data_dir", default=None,
                   help="with --data sst: folder with train/dev/test.txt (default $DYNAGRAPH_SST_DIR, "
                        "else ../shared/data/sst beside the checkout)")
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
    p.add_argument("--seed", type=int, default=1, help="model initialisation and shuffling seed (printed)")
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
    p.add_argument("--model-out", default=None,
                   help="dy.save basename (default runs/treelstm/<listops|listops-full|sst>/model)")
    p.add_argument("--eval-only", action="store_true",
                   help="load --model-out and evaluate on the test set (refuses a model of another data set)")
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
    if getattr(args, "model_out", None) is None:
        args.model_out = os.path.join("runs", "treelstm", run_name(args), "model")
    return args


def run_name(args) -> str:
    """Which data a model is for: its default folder, and what ``--eval-only`` checks."""
    return ("listops-full" if getattr(args, "full", False) else "listops") if args.data == "listops" else args.data


# ---- data
def prepare_data(args):
    """(train, dev, test) lists of :class:`Example`; sets ``args.tokens`` and ``args.num_classes``."""
    if args.data == "listops":
        splits = [generate_listops(n, max_depth=args.max_depth, max_args=args.max_args, seed=args.data_seed + off)
                  for n, off in ((args.train_size, 0), (args.dev_size, 1000), (args.test_size, 2000))]
        args.tokens, args.num_classes = list(LISTOPS_TOKENS), 10
        return tuple([Example(ex.tree, ex.answer) for ex in split] for split in splits)
    folder = find_dataset("sst", getattr(args, "data_dir", None), checkout=_REPO)
    splits = []
    for name in ("train", "dev", "test"):
        path = os.path.join(folder, f"{name}.txt")
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
        model = load_checked(args, pc)
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
    results = {"test_accuracy": test_acc, "best_dev_accuracy": best_dev, "history": history,
               "train_sentences_per_s": seen / max(train_time, 1e-9), "wall_time_s": wall,
               "train_size": len(train_set), "test_size": len(test_set), "model_out": args.model_out}
    write_run_card(args, results)
    return results


# ---- what a saved run holds besides the model
def write_run_card(args, results) -> None:
    """``<model_out>.run.json`` (data set, options, figures) and the learning curve beside the model."""
    options = {k: v for k, v in vars(args).items() if k not in ("tokens",) and _plain(v)}
    card = {"data": run_name(args), "seed": args.seed, "options": options,
            **{k: results[k] for k in ("test_accuracy", "best_dev_accuracy", "history", "wall_time_s")}}
    with open(args.model_out + ".run.json", "w") as f:
        json.dump(card, f, indent=1)
    title = f"Tree-LSTM on {run_name(args)}, seed {args.seed}: dev accuracy"
    results["curve"] = write_learning_curve(args.model_out, results["history"], "dev_accuracy", title=title)[1]


def load_checked(args, pc):
    """The model saved at ``args.model_out``, refused when it was trained on other data than ``args``'."""
    card_path = args.model_out + ".run.json"
    if os.path.exists(card_path):
        with open(card_path) as f:
            trained_on = json.load(f).get("data")
        if trained_on != run_name(args):
            raise SystemExit(f"error: --eval-only: the model {args.model_out} was trained on {trained_on}, "
                             f"not {run_name(args)}; pass --data/--full as it was trained, or another --model-out")
    model = dy.load(args.model_out, pc)[0]
    # A model saved without a run card: its vocabulary and classes must be this data's.
    if list(model.tokens) != list(args.tokens) or model.num_classes != args.num_classes:
        raise SystemExit(f"error: --eval-only: the model {args.model_out} has {len(model.tokens)} tokens and "
                         f"{model.num_classes} classes; {run_name(args)} has {len(args.tokens)} and "
                         f"{args.num_classes}: it was trained on other data")
    model.all_node_loss = args.data == "sst"
    return model


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def main(argv=None) -> dict:
    args = parse_args(argv)
    print(f"Tree-LSTM on {run_name(args)}, seed {args.seed}", flush=True)
    results = exit_if_missing(train, args)
    unit = "expressions" if args.data == "listops" else "sentences"
    print(f"\n== Tree-LSTM on {args.data} ({'eval only' if args.eval_only else args.composition}), seed {args.seed}")
    print(f"test accuracy: {results['test_accuracy'] * 100:.2f}% on {results['test_size']} examples")
    if not args.eval_only:
        print(f"best dev accuracy: {results['best_dev_accuracy'] * 100:.2f}%")
        print(f"training speed: {results['train_sentences_per_s']:.0f} {unit}/s")
        print(f"model saved to {results['model_out']}.data/.meta")
        print(f"learning curve: {results['curve']} (and .curve.csv)")
    print(f"wall time: {results['wall_time_s']:.1f}s")
    return results


if __name__ == "__main__":
    main()
