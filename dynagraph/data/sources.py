"""Where the real data sets live, and what to tell a user who does not have one.

Every example and benchmark finds its data by one rule, first match wins:

1. the script's ``--data-dir`` option;
2. the data set's environment variable (``DYNAGRAPH_SST_DIR``, ``DYNAGRAPH_PTB_DIR``,
   ``DYNAGRAPH_UD_EWT_DIR``);
3. ``../shared/data/<name>`` beside the checkout (the checkout's parent folder).

When the folder or one of its files is missing, :func:`find_dataset` raises
:class:`DatasetMissing` with one line naming the data set, the file it looked
for, how it was chosen, and where to get the data (source and licence). Scripts
turn it into an exit message (:func:`exit_if_missing`), not a traceback.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DATASETS", "Dataset", "DatasetMissing", "find_dataset", "default_dir", "exit_if_missing"]


@dataclass(frozen=True)
class Dataset:
    name: str        # the folder under shared/data
    title: str
    env: str         # the environment variable naming the folder
    files: tuple     # what must be inside
    source: str      # where to get it
    licence: str


DATASETS = {
    "sst": Dataset(
        "sst", "Stanford Sentiment Treebank (PTB-bracket trees)", "DYNAGRAPH_SST_DIR",
        ("train.txt", "dev.txt", "test.txt"),
        "trainDevTestTrees_PTB from https://nlp.stanford.edu/sentiment/ "
        "(also data/trees/ in github.com/neulab/dynet-benchmark)",
        "no explicit licence; distributed by Stanford for research"),
    "ptb": Dataset(
        "ptb", "Penn Treebank, Mikolov's language-modelling version", "DYNAGRAPH_PTB_DIR",
        ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"),
        "data/ptb.*.txt of Mikolov's simple-examples (also data/text/ in github.com/neulab/dynet-benchmark)",
        "WSJ text under the LDC licence (LDC99T42); redistributed for research"),
    "ud_ewt": Dataset(
        "ud_ewt", "Universal Dependencies English Web Treebank", "DYNAGRAPH_UD_EWT_DIR",
        ("en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"),
        "https://github.com/UniversalDependencies/UD_English-EWT (release r2.16)",
        "CC BY-SA 4.0"),
}


class DatasetMissing(FileNotFoundError):
    """A data set's folder or one of its files is not there; the message says where to get it."""


def default_dir(name: str, checkout) -> Path:
    """``<checkout>/../shared/data/<name>``: the data set's place beside a checkout."""
    return Path(checkout).resolve().parent / "shared" / "data" / _dataset(name).name


def find_dataset(name: str, data_dir=None, checkout=None, files=None) -> Path:
    """The folder of data set ``name`` by the rule above, checked to hold its files.

    ``checkout``: the repository root the default is relative to (scripts pass their
    own). ``files``: names (or glob patterns) that must exist in the folder (default:
    the data set's standard files).
    """
    ds = _dataset(name)
    if data_dir:
        folder, how = Path(data_dir), "--data-dir"
    elif os.environ.get(ds.env):
        folder, how = Path(os.environ[ds.env]), ds.env
    elif checkout is not None:
        folder, how = default_dir(name, checkout), "the default beside the checkout"
    else:
        raise DatasetMissing(f"{ds.title}: no folder given; pass --data-dir or set {ds.env}. "
                             f"Get it from {ds.source} (licence: {ds.licence})")
    wanted = files if files is not None else ds.files
    absent = [str(folder)] if not folder.is_dir() else \
        [str(folder / f) for f in wanted if not any(p.is_file() for p in folder.glob(f))]
    if absent:
        raise DatasetMissing(f"{ds.title} not found: no {absent[0]} ({how}); pass --data-dir or "
                             f"set {ds.env}. Get it from {ds.source} (licence: {ds.licence})")
    return folder


def exit_if_missing(run, *args, **kwargs):
    """``run(*args, **kwargs)``, but a :class:`DatasetMissing` ends the program with its one-line message."""
    try:
        return run(*args, **kwargs)
    except DatasetMissing as e:
        raise SystemExit(f"error: {e}") from None


def _dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"find_dataset: unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]
