"""A Tree-LSTM sentence/expression classifier over :class:`dynagraph.data.Tree`.

Every node gets a state (h, c) from its children; the root's h goes through a
softmax layer.  Three compositions:

* ``chain`` (default for ListOps): each operator node is read as a chain over
  its arguments with a binary (N=2) Tree-LSTM -- start from the operator
  alone, then fold in one argument at a time ``s_k = TreeLSTM(op, [s_{k-1}, arg_k])``
  -- so operators with any number of arguments share one cell, and the
  operator token is the input of every step;
* ``nary``: an N-ary Tree-LSTM (N = most children of a node), children by
  position, the node's token (ListOps: the operator) as input;
* ``childsum``: a child-sum Tree-LSTM (unordered children).

Leaves are Tree-LSTM nodes without children whose input is the token's
embedding.  Internal nodes of SST trees have no token, so their input is None.

The classifier follows DyNet's save protocol (``spec``, ``param_collection()``,
``from_spec``) and is registered with ``@dy.saveable``, so ``dy.save(path, [model])`` /
``dy.load(path, pc)`` work.
"""
from __future__ import annotations

import dynagraph as dy

COMPOSITIONS = ("chain", "nary", "childsum")


def node_token(node):
    """The token of a node: a leaf's word, else its label if it is an operator name (ListOps)."""
    if node.word is not None:
        return node.word
    return node.label if isinstance(node.label, str) else None


@dy.saveable  # dy.load may re-create it (a model file cannot name code to run)
class TreeLSTMClassifier:
    """``TreeLSTMClassifier(pc, tokens, num_classes, emb_dim, hidden_dim, composition, max_children)``.

    ``tokens``: the vocabulary (list of strings; index 0 is the unknown token).
    """

    def __init__(self, pc, tokens, num_classes: int, emb_dim: int = 32, hidden_dim: int = 64,
                 composition: str = "chain", max_children: int = 2, node_inputs: bool = True):
        if composition not in COMPOSITIONS:
            raise ValueError(f"composition must be one of {COMPOSITIONS}, got {composition!r}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.num_classes, self.emb_dim, self.hidden_dim = int(num_classes), int(emb_dim), int(hidden_dim)
        self.composition, self.max_children, self.node_inputs = composition, int(max_children), bool(node_inputs)
        self.pc = pc.add_subcollection("treelstm-classifier")
        self.E = self.pc.add_lookup_parameters((len(self.tokens), self.emb_dim))
        if composition == "chain":
            self.cell = dy.NaryTreeLSTMBuilder(2, self.emb_dim, self.hidden_dim, self.pc)
        elif composition == "nary":
            self.cell = dy.NaryTreeLSTMBuilder(self.max_children, self.emb_dim, self.hidden_dim, self.pc)
        else:
            self.cell = dy.ChildSumTreeLSTMBuilder(self.emb_dim, self.hidden_dim, self.pc)
        self.W = self.pc.add_parameters((self.num_classes, self.hidden_dim))
        self.b = self.pc.add_parameters((self.num_classes,), init=0.0)

    # ---- DyNet's save protocol
    @property
    def spec(self):
        return (self.tokens, self.num_classes, self.emb_dim, self.hidden_dim, self.composition,
                self.max_children, self.node_inputs)

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        return TreeLSTMClassifier(model, *spec)

    # ---- the network
    def embed(self, node):
        tok = node_token(node)
        if tok is None or (node.children and not self.node_inputs):
            return None
        return self.E[self.index.get(tok, 0)]

    def encode(self, tree, per_node: bool = False):
        """Top-layer h (hidden_dim,) of the root, or [(node, h)] for every node in post-order."""
        compose, stack, out = self.cell.compose, [], []
        for node in tree.nodes():
            x = self.embed(node)
            if not node.children:
                state = compose(x, [])
            else:
                k = len(node.children)
                kids = stack[-k:]
                del stack[-k:]
                if self.composition == "chain":
                    state = kids[0] if x is None else compose(x, [])
                    for kid in (kids if x is not None else kids[1:]):
                        state = compose(x, [state, kid])
                else:
                    state = compose(x, kids)
            stack.append(state)
            if per_node:
                out.append((node, state[0][-1]))
        return out if per_node else stack[0][0][-1]

    def logits(self, h):
        return dy.affine_transform([self.b, self.W, h])

    def predict(self, tree) -> int:
        return int(self.logits(self.encode(tree)).npvalue().argmax())
