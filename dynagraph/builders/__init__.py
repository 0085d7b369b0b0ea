"""Model builders: recurrent (DyNet's names and layouts), Tree-LSTM, Graph-LSTM, CRF."""
from .crf import CRF
from .graphlstm import GraphLSTMBuilder
from .lstm import (CompactVanillaLSTMBuilder, CoupledLSTMBuilder, FastLSTMBuilder, LSTMBuilder,
                   SparseLSTMBuilder, VanillaLSTMBuilder)
from .rnn import BiRNNBuilder, GRUBuilder, RNNState, SimpleRNNBuilder, StackedRNNState
from .treelstm import ChildSumTreeLSTMBuilder, NaryTreeLSTMBuilder, TreeLSTMSequence

__all__ = [
    "RNNState", "StackedRNNState", "SimpleRNNBuilder", "GRUBuilder", "BiRNNBuilder",
    "VanillaLSTMBuilder", "LSTMBuilder", "CompactVanillaLSTMBuilder", "SparseLSTMBuilder",
    "CoupledLSTMBuilder", "FastLSTMBuilder",
    "NaryTreeLSTMBuilder", "ChildSumTreeLSTMBuilder", "TreeLSTMSequence", "GraphLSTMBuilder", "CRF",
]
