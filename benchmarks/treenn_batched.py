"""What treenn.py compares autobatching against: the same Tree-LSTM in PyTorch, batched by hand
by tree level, and the arithmetic every implementation must do.

Hand batching (the way a PyTorch user batches Tree-LSTMs): every leaf of N trees in one
embedding lookup and one product per gate matrix; then, level by level from the
leaves up (a node's level is one more than its deeper child's), every node of the
level at once — its children's states gathered by index, one ``[h_l; h_r] @ U^T`` for
all five gates, the results written back by index. One loss over the N roots.

``flops_per_sentence`` counts the multiply-adds of the products no executor can skip
(forward, the input gradients ``W^T dY`` that reach trained embeddings and children,
and the weight gradients ``dY X^T``), two FLOPs each; ``sgemm_rate`` measures this
core's single-thread SGEMM on shapes like the model's, so a rate in sentences/s can
be read as a fraction of what products alone would allow.
"""
from __future__ import annotations

import time

import numpy as np

EMB, HID, CLASSES, LR = 128, 128, 5, 0.05


def tree_counts(tree) -> tuple[int, int]:
    """(leaves, internal nodes) of a binary tree: a leaf is a word id, a node [left, right]."""
    if isinstance(tree, int):
        return 1, 0
    left, right = tree_counts(tree[0]), tree_counts(tree[1])
    return left[0] + right[0], left[1] + right[1] + 1


def flops_per_sentence(trees) -> float:
    """Mean product FLOPs per tree for forward + backward (3 products per weight use: Y, dX, dW)."""
    total = 0
    for _, tree in trees:
        leaves, nodes = tree_counts(tree)
        forward = leaves * 3 * HID * EMB + nodes * 5 * HID * 2 * HID + CLASSES * HID
        total += 2 * 3 * forward
    return total / len(trees)


def sgemm_rate(seconds: float = 0.3) -> float:
    """Best single-thread float32 GEMM rate (FLOP/s) over the model's shapes and a large square.

    Call in a process whose BLAS runs one thread (the benchmark workers set that).
    """
    rng = np.random.default_rng(0)
    best = 0.0
    for m, k, n in ((5 * HID, 2 * HID, 64), (3 * HID, EMB, 256), (2 * HID, 5 * HID, 256), (1024, 1024, 1024)):
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        a @ b
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ b
            reps += 1
        best = max(best, 2.0 * m * k * n * reps / (time.perf_counter() - t0))
    return best


def products_rate(trees, per_graph: int, repeats: int = 3) -> float:
    """Sentences/s of the products alone at the GEMM shapes of ``per_graph`` trees per graph,
    best of ``repeats`` passes: the products' ceiling for an executor that batches by tree
    level (a node's level: one more than its deeper child's), as autobatching and
    ``torch_level_batched_model`` do.

    Per graph: the leaves' gate product (forward ``X W^T``, input gradient ``dY W``, weight
    gradient ``dY^T X``); per level, the cell's forward and input-gradient products over the
    level's nodes; the cell's weight gradient once over all levels (an executor may defer it:
    dynagraph does); the output layer's three. Thin levels make thin GEMMs, which run far below
    the large-square rate: this is why throughput can grow with the batch at all.

    Call in a process whose BLAS runs one thread.
    """
    rng = np.random.default_rng(0)
    graphs = []                                   # (leaves, [nodes per level], roots) per graph
    for b in range(0, len(trees), per_graph):
        _, words, levels, roots = _levels(trees[b:b + per_graph])
        graphs.append((len(words), [lv.shape[1] for lv in levels], len(roots)))
    leaves = max(g[0] for g in graphs)
    cells = max(sum(g[1]) for g in graphs)
    roots = max(g[2] for g in graphs)

    def operands(rows, inputs, outputs):
        return (rng.standard_normal((rows, inputs), dtype=np.float32),
                rng.standard_normal((outputs, inputs), dtype=np.float32),
                rng.standard_normal((rows, outputs), dtype=np.float32))

    leaf, cell, out = operands(leaves, EMB, 3 * HID), operands(cells, 2 * HID, 5 * HID), operands(roots, HID, CLASSES)

    def all_three(ops, rows):
        x, w, dy = ops[0][:rows], ops[1], ops[2][:rows]
        x @ w.T, dy @ w, dy.T @ x

    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for n_leaves, level_sizes, n_roots in graphs:
            all_three(leaf, n_leaves)
            x, u, dg = cell
            for n in level_sizes:
                x[:n] @ u.T, dg[:n] @ u
            n = sum(level_sizes)
            dg[:n].T @ x[:n]
            all_three(out, n_roots)
        best = min(best, time.perf_counter() - t0)
    return len(trees) / best


def _levels(trees):
    """Node tables for a batch of trees, post-order: words of the leaves, and per level >= 1 the
    (node, left child, right child) index arrays; plus the roots' indices."""
    words, kids, level = [], [], []           # per node: word (leaves) / children (internal)
    roots = []

    def visit(t):
        if isinstance(t, int):
            words.append((len(level), t))
            kids.append(None)
            level.append(0)
            return len(level) - 1
        left, right = visit(t[0]), visit(t[1])
        kids.append((left, right))
        level.append(1 + max(level[left], level[right]))
        return len(level) - 1

    for _, tree in trees:
        roots.append(visit(tree))
    by_level: dict[int, list] = {}
    for node, k in enumerate(kids):
        if k is not None:
            by_level.setdefault(level[node], []).append((node, *k))
    return len(level), words, [np.array(by_level[lv]).T for lv in sorted(by_level)], roots


def torch_level_batched_model(torch, vocab_size: int):
    """{"train_batch": f(items)} for N trees per call, batched by level; the same parameters and
    initialisation as treenn.torch_model."""
    F = torch.nn.functional

    def param(*shape, scale=None):
        s = scale if scale is not None else (6.0 / sum(shape)) ** 0.5
        return torch.nn.Parameter(torch.empty(*shape).uniform_(-s, s))

    E = param(vocab_size, EMB, scale=(3.0 / EMB) ** 0.5)
    W = param(3 * HID, EMB)                               # i, o, u stacked
    Wb = param(3 * HID, scale=(3.0 / HID) ** 0.5)
    U = param(5 * HID, 2 * HID)                           # i, o, u, f_l, f_r stacked
    Ub = param(5 * HID, scale=(3.0 / HID) ** 0.5)
    V = param(CLASSES, HID)
    Vb = param(CLASSES, scale=(3.0 / CLASSES) ** 0.5)
    opt = torch.optim.SGD([E, W, Wb, U, Ub, V, Vb], lr=LR)

    def loss_of(items):
        n, words, levels, roots = _levels(items)
        leaf_idx = torch.tensor([w[0] for w in words])
        x = F.embedding(torch.tensor([w[1] for w in words]), E, sparse=True)
        g = F.linear(x, W, Wb)
        i, o, u = torch.sigmoid(g[:, :HID]), torch.sigmoid(g[:, HID:2 * HID]), torch.tanh(g[:, 2 * HID:])
        c_leaf = i * u
        # States of every node, written level by level in place (index_copy_'s and index_select's
        # backward need only the indices, so later writes do not disturb earlier reads' gradients).
        H, C = torch.zeros(n, HID), torch.zeros(n, HID)
        H.index_copy_(0, leaf_idx, o * torch.tanh(c_leaf))
        C.index_copy_(0, leaf_idx, c_leaf)
        for node, left, right in levels:
            node, left, right = torch.from_numpy(node), torch.from_numpy(left), torch.from_numpy(right)
            e = torch.cat([H.index_select(0, left), H.index_select(0, right)], dim=1)
            g = F.linear(e, U, Ub)
            i, o, u = torch.sigmoid(g[:, :HID]), torch.sigmoid(g[:, HID:2 * HID]), torch.tanh(g[:, 2 * HID:3 * HID])
            fl, fr = torch.sigmoid(g[:, 3 * HID:4 * HID]), torch.sigmoid(g[:, 4 * HID:])
            c = i * u + fl * C.index_select(0, left) + fr * C.index_select(0, right)
            H.index_copy_(0, node, o * torch.tanh(c))
            C.index_copy_(0, node, c)
        logits = F.linear(H.index_select(0, torch.tensor(roots)), V, Vb)
        return F.cross_entropy(logits, torch.tensor([label for label, _ in items]), reduction="sum")

    def train_batch(items):
        loss = loss_of(items)
        value = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return value

    return {"train_batch": train_batch, "_keep": opt}
