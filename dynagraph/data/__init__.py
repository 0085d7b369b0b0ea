"""Datasets and data utilities for dynagraph (pure Python, no engine needed).

* :mod:`~dynagraph.data.trees` -- :class:`Tree` and the PTB bracket parser;
* :mod:`~dynagraph.data.text` -- SST sentiment trees, Mikolov PTB text;
* :mod:`~dynagraph.data.conllu` -- CoNLL-U (Universal Dependencies);
* :mod:`~dynagraph.data.vocab` -- :class:`Vocab`;
* :mod:`~dynagraph.data.listops` -- the synthetic ListOps task;
* :mod:`~dynagraph.data.sources` -- where the real data sets are found (:func:`find_dataset`).
"""

from .conllu import Sentence, Token, parse_conllu, read_conllu
from .listops import (OPERATORS, ListOpsExample, evaluate, generate_listops,
                      listops_to_text, parse_listops, read_listops_tsv)
from .sources import DATASETS, DatasetMissing, find_dataset
from .text import read_ptb_lm, read_sst_trees
from .trees import Tree, parse_tree
from .vocab import Vocab

__all__ = [
    "Tree", "parse_tree",
    "read_sst_trees", "read_ptb_lm",
    "Token", "Sentence", "read_conllu", "parse_conllu",
    "Vocab",
    "OPERATORS", "ListOpsExample", "generate_listops", "evaluate",
    "parse_listops", "listops_to_text", "read_listops_tsv",
    "DATASETS", "DatasetMissing", "find_dataset",
]
