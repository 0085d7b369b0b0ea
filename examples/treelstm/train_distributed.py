"""Train the Tree-LSTM classifier of train.py data-parallel on Ray.

    python examples/treelstm/train_distributed.py --workers 2 --servers 1 --train-size 2000 --epochs 2
    RAY_ADDRESS=auto python examples/treelstm/train_distributed.py ...   # an existing cluster

Reuses ``prepare_data``, ``build_model`` and ``loss_fn`` from train.py; see
docs/distributed.md for ``ray job submit``. Outputs: ``--save`` (written by this
driver) and ``--checkpoint-dir`` (written by the servers, on their nodes). Relative
paths are taken from the current folder, except under ``ray job submit``: there the
current folder is Ray's temporary copy of the working dir, so they are taken from the
home folder of the node running the driver (the head, by default). The script prints
where it saved.
"""
from __future__ import annotations

import argparse
import functools
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402  (first: it finds dynagraph in a source checkout that is not installed)
import dynagraph as dy  # noqa: E402
import dynagraph.distributed as dd  # noqa: E402
import model as model_module  # noqa: E402
from ray import cloudpickle  # noqa: E402

# Workers need build/loss but not this folder on their path: ship them by value.
cloudpickle.register_pickle_by_value(train)
cloudpickle.register_pickle_by_value(model_module)


def batch_loss(model, batch):
    """train.loss_fn summed over a batch of examples (one graph)."""
    return dy.esum([train.loss_fn(model, ex) for ex in batch])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--servers", type=int, default=1)
    p.add_argument("--consistency", choices=["bsp", "ssp", "asp"], default="ssp")
    p.add_argument("--staleness", type=int, default=2)
    p.add_argument("--scheme", choices=["ps", "sfb", "hybrid"], default="hybrid")
    p.add_argument("--checkpoint-dir", default="runs/treelstm-dist/ckpt",
                   help="the servers' fault-tolerance checkpoints (on each server's node)")
    p.add_argument("--save", default="runs/treelstm-dist/final",
                   help="folder for the trained job (params.npz, state.ckpt), written by this driver")
    p.add_argument("--num-cpus", type=int, default=None, help="local cluster only")
    known, rest = p.parse_known_args(argv)
    targs = train.parse_args(rest)  # the single-process options (--data, --epochs, --batch-size, ...)
    known.save, known.checkpoint_dir = output_path(known.save), output_path(known.checkpoint_dir)
    return known, targs


def output_path(path: str) -> str:
    """``path`` made absolute: from the current folder, or under ``ray job submit`` (whose
    current folder is a temporary copy Ray deletes) from the home folder."""
    if os.path.isabs(path):
        return path
    in_ray_job = "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ   # set by Ray's job supervisor
    return os.path.abspath(os.path.join(os.path.expanduser("~"), path) if in_ray_job else path)


def main(argv=None) -> dict:
    args, targs = parse_args(argv)
    train_set, dev, test = train.prepare_data(targs)
    print(f"seed {targs.seed}; saving to {args.save} on {socket.gethostname()}", flush=True)
    job = dd.Trainer(functools.partial(train.build_model, args=targs), batch_loss, data=train_set,
                     workers=args.workers, servers=args.servers, consistency=args.consistency,
                     staleness=args.staleness, scheme=args.scheme,
                     optimizer=("adam", {"learning_rate": targs.lr, "clip_threshold": targs.clip}),
                     batch_size=targs.batch_size,
                     checkpoint_dir=args.checkpoint_dir, seed=targs.seed, num_cpus=args.num_cpus)
    if args.scheme == "hybrid":
        chosen = job.replicated  # the first use decides (and may measure the link and time a trial)
        link = f"link {job.link.latency * 1e3:.2f} ms, {job.link.bandwidth / 1e6:.0f} MB/s" \
            if isinstance(job.link, dd.Link) else "no matrix worth measuring the link for"
        print(f"hybrid: matrices sent as sufficient factors: {', '.join(chosen) or 'none'} ({link})")
        for t in job.trial or []:  # the timed trial, when the rules had candidates
            print(f"  trial: {', '.join(t['replicated']) or 'all on the servers'}: "
                  f"{t['seconds_per_iteration'] * 1e3:.0f} ms per iteration")
    results = {}
    for epoch in range(targs.epochs):
        if epoch >= targs.epochs / 2:  # train.py's schedule: decay after each epoch past half
            job.set_learning_rate(job.learning_rate * targs.lr_decay)
        out = job.fit(epochs=1)
        pc = job.model()
        dev_acc = train.accuracy(_model_in(pc, targs), dev)
        print(f"epoch {epoch + 1}: {out['samples_per_second']:.0f} trees/s, dev accuracy {dev_acc:.3f}, "
              f"{out['worker_bytes']['total'] / max(1, out['iterations']) / args.workers / 1e3:.1f} kB per worker-iteration")
        results = {"dev_accuracy": dev_acc, "trees_per_second": out["samples_per_second"]}
    results["test_accuracy"] = train.accuracy(_model_in(job.model(), targs), test)
    print(f"test accuracy {results['test_accuracy']:.3f}")
    job.save(args.save)
    print(f"model saved to {args.save} (params.npz, state.ckpt) on {socket.gethostname()}")
    job.shutdown()
    return results


def _model_in(pc, targs):
    """A classifier object over the parameters already in ``pc`` (the job's local copy)."""
    fresh = dy.ParameterCollection()
    m = train.build_model(fresh, targs)
    values = pc.to_dict()
    fresh.load_dict({k: values[k] for k in fresh.to_dict()})
    return m


if __name__ == "__main__":
    train.exit_if_missing(main)   # a missing data set (--data sst) ends with a one-line message
