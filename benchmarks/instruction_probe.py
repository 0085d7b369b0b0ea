"""Fixed work for counting instructions: compare two builds of the engine without timing noise.

Two workloads, both through the public API only (so any two commits can run them):
  chain DIM N     graph_overhead's chain (16 steps of tanh(W*h + b), dot_product loss),
                  forward, backward, SimpleSGD update, N samples
  tree N PER      an autobatched binary Tree-LSTM (hidden 64) over N random trees, PER trees
                  per graph, Adam
  gates N PER     the same trees through treenn.py's cell (a product and a bias add per gate,
                  c = i*u + fl*cl + fr*cr), hidden 64, SimpleSGD; with a fourth argument
                  `noshare`, autobatched backward gives no argument its user's gradient block

Count with callgrind on a portable build (valgrind cannot decode AVX-512; build with
``-Ccmake.define.DYNAGRAPH_PORTABLE=ON``), one BLAS thread, fixed hashing, and take the
difference of two sizes so the interpreter's start-up cancels:

    export PYTHONHASHSEED=0 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/instruction_probe.py chain 32 500
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/instruction_probe.py chain 32 1500
    # (Ir of the second - Ir of the first) / 1000 = instructions per sample
"""
import random
import sys
import time

import dynagraph as dy

def chain(dim, n, steps=16):
    m = dy.ParameterCollection(); W = m.add_parameters((dim, dim), init=dy.NormalInitializer(0, 0.1)); b = m.add_parameters(dim)
    tr = dy.SimpleSGDTrainer(m, 0.01); tr.set_clip_threshold(-1)
    x = [random.random() for _ in range(dim)]
    for _ in range(n):
        dy.renew_cg(); h = dy.inputVector(x)
        for _ in range(steps): h = dy.tanh(W * h + b)
        l = dy.dot_product(h, h); l.value(); l.backward(); tr.update()

def tree(n, per_graph, hid=64):
    rng = random.Random(0)
    m = dy.ParameterCollection(); E = m.add_lookup_parameters((100, hid))
    WL = m.add_parameters((4 * hid, hid)); WR = m.add_parameters((4 * hid, hid)); bb = m.add_parameters(4 * hid)
    O = m.add_parameters((5, hid)); tr = dy.AdamTrainer(m)
    def gen(d):
        return rng.randrange(100) if d == 0 or rng.random() < 0.3 else (gen(d - 1), gen(d - 1))
    def enc(t):
        if isinstance(t, int):
            return dy.lookup(E, t), dy.zeros(hid)
        (hl, cl), (hr, cr) = enc(t[0]), enc(t[1])
        g = dy.affine_transform([bb, WL, hl, WR, hr])
        i = dy.logistic(dy.pick_range(g, 0, hid)); fl = dy.logistic(dy.pick_range(g, hid, 2 * hid))
        fr = dy.logistic(dy.pick_range(g, 2 * hid, 3 * hid)); u = dy.tanh(dy.pick_range(g, 3 * hid, 4 * hid))
        c = dy.cmult(i, u) + dy.cmult(fl, cl) + dy.cmult(fr, cr)
        return dy.tanh(c), c
    trees = [gen(6) for _ in range(n)]
    for s in range(0, n, per_graph):
        dy.renew_cg(autobatching=True)
        loss = dy.esum([dy.pickneglogsoftmax(O * enc(t)[0], s % 5) for t in trees[s:s + per_graph]])
        loss.value(); loss.backward(); tr.update()

def gates(n, per_graph, hid=64):
    rng = random.Random(0)
    m = dy.ParameterCollection(); E = m.add_lookup_parameters((100, hid))
    W = {g: m.add_parameters((hid, hid)) for g in "iou"}; Wb = {g: m.add_parameters(hid) for g in "iou"}
    U = {g: m.add_parameters((hid, 2 * hid)) for g in ("i", "o", "u", "l", "r")}
    Ub = {g: m.add_parameters(hid) for g in ("i", "o", "u", "l", "r")}
    O = m.add_parameters((5, hid)); tr = dy.SimpleSGDTrainer(m, 0.05)
    def gen(d):
        return rng.randrange(100) if d == 0 or rng.random() < 0.3 else (gen(d - 1), gen(d - 1))
    def enc(t):
        if isinstance(t, int):
            x = dy.lookup(E, t)
            i, o, u = (dy.logistic(W["i"] * x + Wb["i"]), dy.logistic(W["o"] * x + Wb["o"]),
                       dy.tanh(W["u"] * x + Wb["u"]))
            c = dy.cmult(i, u)
            return dy.cmult(o, dy.tanh(c)), c
        (hl, cl), (hr, cr) = enc(t[0]), enc(t[1])
        e = dy.concatenate([hl, hr])
        i, o = dy.logistic(U["i"] * e + Ub["i"]), dy.logistic(U["o"] * e + Ub["o"])
        u = dy.tanh(U["u"] * e + Ub["u"])
        fl, fr = dy.logistic(U["l"] * e + Ub["l"]), dy.logistic(U["r"] * e + Ub["r"])
        c = dy.cmult(i, u) + dy.cmult(fl, cl) + dy.cmult(fr, cr)
        return dy.cmult(o, dy.tanh(c)), c
    trees = [gen(6) for _ in range(n)]
    for s in range(0, n, per_graph):
        dy.renew_cg(autobatching=True)
        loss = dy.esum([dy.pickneglogsoftmax(O * enc(t)[0], s % 5) for t in trees[s:s + per_graph]])
        loss.value(); loss.backward(); tr.update()

if __name__ == "__main__":
    t = time.perf_counter()
    if sys.argv[1] == "chain": chain(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "gates":
        if sys.argv[4:] == ["noshare"]: dy._core._set_autobatch_share_grads(False)
        gates(int(sys.argv[2]), int(sys.argv[3]))
    else: tree(int(sys.argv[2]), int(sys.argv[3]))
    print(sys.argv[1:], f"{time.perf_counter() - t:.3f}s")
