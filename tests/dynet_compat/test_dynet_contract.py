"""DyNet 2.2 behaviours that real DyNet programs rely on (issue 22), each run under
dynet38 and dynagraph with the same code and compared.

Configuration is read when the library starts (DyNet: at import), so those
cases run in fresh interpreters; the rest run both libraries in this process.
"""
import builtins
import pickle
import pickletools
import re
import subprocess
import sys

import numpy as np
import pytest

import dynagraph as dg

dy = pytest.importorskip("dynet")

pytestmark = pytest.mark.compare

LIBS = {"dynet": dy, "dynagraph": dg}
_KEEP = []  # DyNet's builders crash if their ParameterCollection dies first


# DyNet can crash while the interpreter tears its objects down: leave at once.
_EXIT = "\nimport os, sys; sys.stdout.flush(); sys.stderr.flush(); os._exit(0)\n"


def run_python(code: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code + _EXIT, *argv], capture_output=True, text=True,
                          timeout=120)


# ---------------------------------------------------------------- 1. dynet_config

# A program as DyNet's examples start: dynet_config first, then the library.
CONFIGURED = """
import sys, dynet_config
dynet_config.set(random_seed=5)
{gpu}
import {lib} as dy
pc = dy.ParameterCollection()
dy.renew_cg()
x = dy.inputVector([1.0, 2.0])
print("draw", repr(pc.add_parameters(4).as_array().tolist()))
print("sum", (x * 2).npvalue().sum())
"""


def _draw(out: str) -> list:
    return [line for line in out.splitlines() if line.startswith("draw")]


@pytest.mark.parametrize("lib", ["dynet", "dynagraph"])
def test_dynet_config_seeds_the_library_and_set_gpu_runs_on_a_cpu_build(lib):
    first = run_python(CONFIGURED.format(lib=lib, gpu=""))
    again = run_python(CONFIGURED.format(lib=lib, gpu=""))
    other = run_python(CONFIGURED.format(lib=lib, gpu="").replace("random_seed=5", "random_seed=6"))
    gpu = run_python(CONFIGURED.format(lib=lib, gpu="dynet_config.set_gpu()"))
    for r in (first, again, other, gpu):  # set_gpu() on a CPU build: it runs, on the CPU
        assert r.returncode == 0, r.stderr
        assert "sum 6.0" in r.stdout
    assert _draw(first.stdout) == _draw(again.stdout) == _draw(gpu.stdout) != _draw(other.stdout)


def test_dynagraph_honours_dynet_config_with_both_copies_of_the_module():
    """DyNet's own dynet_config (installed here with dynet38) and ours keep the
    settings in builtins.__DYNET_CONFIG: either copy configures either library."""
    ours = "import sys, dynagraph._dynet_config as m; sys.modules['dynet_config'] = m\n"
    check = """
import dynet_config
dynet_config.set(random_seed={seed}, autobatch=1, weight_decay=0.25)
import {lib} as dy
pc = dy.ParameterCollection()
print("decay", pc.get_weight_decay())
print("draw", repr(pc.add_parameters(4).as_array().tolist()))
"""
    for lib in ("dynet", "dynagraph"):
        draws = []
        for prelude in ("", ours):
            for seed in (9, 9, 10):
                r = run_python(prelude + check.format(lib=lib, seed=seed))
                assert r.returncode == 0, r.stderr
                assert "decay 0.25" in r.stdout, (lib, prelude != "", r.stdout)
                if lib == "dynet":
                    assert "using autobatching" in r.stderr
                draws.append(_draw(r.stdout))
        assert draws[0] == draws[1] == draws[3] == draws[4] != draws[2] == draws[5]


def test_our_dynet_config_module_keeps_dynets_protocol():
    from dynagraph import _dynet_config as ours
    import dynet_config as theirs  # DyNet's file, installed with dynet38
    saved = {k: getattr(builtins, k) for k in ("__DYNET_CONFIG", "__DYNET_GPU") if hasattr(builtins, k)}
    try:
        results = []
        for module in (theirs, ours):
            for k in ("__DYNET_CONFIG", "__DYNET_GPU"):
                if hasattr(builtins, k):
                    delattr(builtins, k)
            first = module.get()
            module.set(mem=256, random_seed=3)
            module.set(autobatch=1)  # a second call replaces the first, in DyNet's module too
            module.set_gpu()
            results.append((first, dict(module.get()), module.gpu()))
        assert results[0] == results[1]
        assert results[1][1]["seed"] == 0 and results[1][1]["requested_gpus"] == 1
    finally:
        for k in ("__DYNET_CONFIG", "__DYNET_GPU"):
            if hasattr(builtins, k):
                delattr(builtins, k)
        for k, v in saved.items():
            setattr(builtins, k, v)


def test_the_top_level_dynet_config_finder_yields_only_to_a_real_module():
    """``import dynet_config`` works where DyNet is not installed: a finder (installed
    by a .pth file) that is last on sys.meta_path provides our copy. Here DyNet's
    file is installed, so the import finds DyNet's, and the finder is still there."""
    finder_mod = pytest.importorskip("_dynagraph_dynet_config")
    assert finder_mod.DynetConfigFinder in sys.meta_path
    assert sys.meta_path.index(finder_mod.DynetConfigFinder) > 0
    spec = finder_mod.DynetConfigFinder.find_spec("dynet_config")
    assert spec is not None and spec.origin.endswith("_dynet_config.py")
    assert finder_mod.DynetConfigFinder.find_spec("something_else") is None
    import dynet_config
    assert dynet_config.__file__ != spec.origin  # DyNet's copy wins while it is installed
    # Without DyNet's file on the path, the import finds ours.
    code = ("import sys; sys.path = [p for p in sys.path if 'site-packages' not in p or True]\n"
            "import importlib.machinery as m\n"
            "orig = m.PathFinder.find_spec\n"
            "m.PathFinder.find_spec = classmethod(lambda c, n, p=None, t=None: None if n == 'dynet_config' "
            "else orig(n, p, t))\n"
            "import dynet_config; print(dynet_config.__file__); dynet_config.set(random_seed=4)\n"
            "import dynagraph as dy; dy.ParameterCollection(); print('seed', dy._config.settings.seed)")
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "_dynet_config.py" in r.stdout and "seed 4" in r.stdout


def test_no_file_is_owned_by_both_distributions():
    """Installing, upgrading or uninstalling either of dynagraph and dynet38 never
    touches the other's files: dynagraph ships no top-level dynet_config.py."""
    from importlib.metadata import files
    ours = {str(f) for f in files("dynagraph") or []}
    theirs = {str(f) for f in files("dynet38") or []}
    assert "dynet_config.py" in theirs
    assert not ours & theirs
    assert {"_dynagraph_dynet_config.py", "dynagraph-dynet-config.pth"} <= ours


# ---------------------------------------------------------------- 2. command-line flags

FLAGS = """
import {lib} as dy
pc = dy.ParameterCollection()
print("draw", repr(pc.add_parameters(4).as_array().tolist()))
if "{lib}" == "dynagraph":
    print("seed", dy._config.settings.seed, "autobatch", dy._core.get_autobatch())
"""


@pytest.mark.parametrize("lib", ["dynet", "dynagraph"])
def test_underscore_flags_are_dynets_dash_flags(lib):
    runs = [run_python(FLAGS.format(lib=lib), *args) for args in (
        ("--dynet_seed", "5", "--dynet_autobatch=1"),
        ("--dynet-seed=5", "--dynet-autobatch", "1"),
        ("--dynet_seed=5", "--dynet_mem", "64", "--dynet_autobatch", "1"))]
    for r in runs:
        assert r.returncode == 0, r.stderr
        if lib == "dynet":
            assert "using autobatching" in r.stderr
        else:
            assert "seed 5 autobatch True" in r.stdout
    assert _draw(runs[0].stdout) == _draw(runs[1].stdout) == _draw(runs[2].stdout)
    unseeded = run_python(FLAGS.format(lib=lib), "--dynet_autobatch=1")
    assert _draw(unseeded.stdout) != _draw(runs[0].stdout)


@pytest.mark.parametrize("lib", ["dynet", "dynagraph"])
@pytest.mark.parametrize("args", [("--dynet-gpus", "1"), ("--dynet-gpu",), ("--dynet-devices", "GPU:0")])
def test_asking_a_cpu_build_for_a_gpu_fails_as_dynets_does(lib, args):
    r = run_python(FLAGS.format(lib=lib), *args)
    assert r.returncode != 0
    # DyNet's message (dynagraph prefixes the function that read the flags).
    assert re.search(r"RuntimeError: (\w+: )?DyNet was not installed with GPU support", r.stderr), r.stderr


def test_gpu_flags_dynets_python_check_misses_fail_here_too():
    """DyNet's CPU build checks only the exact tokens above and silently runs on
    the CPU for ``--dynet_gpus 1`` or ``--dynet-gpus=1``; a GPU asked for is never
    silently ignored here."""
    for args in (("--dynet_gpus", "1"), ("--dynet-gpus=2",), ("--dynet_devices=CPU,GPU:0",)):
        r = run_python(FLAGS.format(lib="dynagraph"), *args)
        assert r.returncode != 0 and "not installed with GPU support" in r.stderr, args


# ---------------------------------------------------------------- 3, 4. builders

LSTMS = ["VanillaLSTMBuilder", "CoupledLSTMBuilder", "FastLSTMBuilder", "CompactVanillaLSTMBuilder"]


def _builder_pair(name, layers=2, in_dim=3, hid=4):
    m_dy, m_dg = dy.ParameterCollection(), dg.ParameterCollection()
    b_dy = getattr(dy, name)(layers, in_dim, hid, m_dy)
    b_dg = getattr(dg, name)(layers, in_dim, hid, m_dg)
    _KEEP.append((m_dy, b_dy))
    for p_dy, p_dg in zip(m_dy.parameters_list(), m_dg.parameters_list()):
        assert p_dy.shape() == p_dg.shape()
        p_dg.set_value(p_dy.as_array())
    return b_dy, b_dg


def _vectors(lib, n, hid, seed):
    rng = np.random.default_rng(seed)
    return [lib.inputVector(rng.normal(size=hid).tolist()) for _ in range(n)]


@pytest.mark.parametrize("name", LSTMS)
@pytest.mark.parametrize("where", ["initial", "initial_vectors", "after_a_step"])
def test_lstm_set_s_with_cells_only_or_cells_and_outputs(name, where):
    b_dy, b_dg = _builder_pair(name)
    layers, hid = 2, 4
    outputs = {}
    for lib, b in (("dynet", b_dy), ("dynagraph", b_dg)):
        m = LIBS[lib]
        m.renew_cg()
        s = b.initial_state(_vectors(m, 2 * layers, hid, seed=5)) if where == "initial_vectors" else b.initial_state()
        if where == "after_a_step":
            s = s.add_input(m.inputVector([0.5, -0.2, 0.1]))
        got = []
        for n in (layers, 2 * layers):
            t = s.set_s(_vectors(m, n, hid, seed=n)).add_input(m.inputVector([0.3, 0.1, -0.4]))
            got.append([e.npvalue() for e in t.s()])
        outputs[lib] = got
    for ref, ours in zip(outputs["dynet"], outputs["dynagraph"]):
        for r, o in zip(ref, ours):
            np.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", BUILDERS := ["SimpleRNNBuilder", "GRUBuilder"] + LSTMS)
@pytest.mark.parametrize("where", ["initial", "initial_vectors", "after_a_step"])
def test_set_h_keeps_dynets_cells(name, where):
    """set_h replaces the outputs; an LSTM keeps the cells of the state (zeros
    where none were set), as in DyNet."""
    b_dy, b_dg = _builder_pair(name)
    cells = 4 if name in LSTMS else 0  # initial cells and outputs of both layers
    outputs = {}
    for lib, b in (("dynet", b_dy), ("dynagraph", b_dg)):
        m = LIBS[lib]
        m.renew_cg()
        s = b.initial_state(_vectors(m, cells, 4, seed=7)) if cells and where == "initial_vectors" else b.initial_state()
        if where == "after_a_step":
            s = s.add_input(m.inputVector([0.5, -0.2, 0.1]))
        t = s.set_h(_vectors(m, 2, 4, seed=3))
        outputs[lib] = [e.npvalue() for e in t.s()] + [t.add_input(m.inputVector([0.3, 0.1, -0.4])).output().npvalue()]
    for r, o in zip(outputs["dynet"], outputs["dynagraph"]):
        np.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", LSTMS)
def test_lstm_set_s_with_another_count_is_refused_by_both(name):
    b_dy, b_dg = _builder_pair(name)
    for lib, b, error in (("dynet", b_dy, Exception), ("dynagraph", b_dg, ValueError)):
        m = LIBS[lib]
        m.renew_cg()
        with pytest.raises(error, match="set_s"):
            b.initial_state().set_s(_vectors(m, 3, 4, seed=0))


@pytest.mark.parametrize("name", BUILDERS)
def test_get_parameter_expressions_needs_initial_state_in_this_graph(name):
    b_dy, b_dg = _builder_pair(name)
    for lib, b in (("dynet", b_dy), ("dynagraph", b_dg)):
        m = LIBS[lib]
        m.renew_cg()
        with pytest.raises(ValueError):  # before any initial_state()
            b.get_parameter_expressions()
        b.initial_state()
        exprs = b.get_parameter_expressions()
        assert len(exprs) == 2 and all(len(layer) == len(exprs[0]) for layer in exprs)
        m.renew_cg()
        with pytest.raises(ValueError):  # a new graph: stale until initial_state() again
            b.get_parameter_expressions()


# ---------------------------------------------------------------- 5. batched slicing

@pytest.mark.parametrize("key", [
    (slice(None, 1), slice(None, 2), slice(None, 3)),
    (slice(2, 7, 2), slice(None), slice(1, 9, 3)),
    (slice(None), slice(4, 6), slice(5, None)),
])
def test_one_index_more_than_the_rank_slices_the_batch(key):
    a = np.arange(1000, dtype=np.float64).reshape(10, 10, 10)
    values = []
    for m in (dy, dg):
        m.renew_cg()
        e = m.inputTensor(a, batched=True)[key]
        values.append((e.dim(), e.npvalue()))
    assert values[0][0] == values[1][0]
    np.testing.assert_array_equal(values[1][1], values[0][1])
    np.testing.assert_array_equal(values[1][1], a[key])


def test_an_int_on_the_batch_axis_picks_one_element():
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    dg.renew_cg()
    e = dg.inputTensor(a, batched=True)
    np.testing.assert_array_equal(e[:, 1:, 2].npvalue(), a[:, 1:, 2])
    with pytest.raises(IndexError, match="batch"):
        e[0, 0, 4]
    with pytest.raises(IndexError, match="too many indices"):
        e[0, 0, 0, 0]


# ---------------------------------------------------------------- 6. Expression.set on a lookup

def test_set_repoints_a_lookup_as_in_dynets_api_tutorial():
    table = np.random.default_rng(0).normal(size=(20, 3))
    got = {}
    for name, m in LIBS.items():
        pc = m.ParameterCollection()
        _KEEP.append(pc)
        lp = pc.lookup_parameters_from_numpy(table)
        m.renew_cg()
        e5 = lp[5]
        loss = m.sum_elems(m.cmult(e5, e5))
        before = loss.value()
        e5.set(10)
        batch = m.lookup_batch(lp, [1, 2])
        batch.set([3, 4])
        got[name] = (before, e5.npvalue(), loss.value(recalculate=True), batch.npvalue(), e5.dim())
    *ref_values, ref_dim = got["dynet"]
    *our_values, our_dim = got["dynagraph"]
    assert our_dim == ref_dim
    for ref, ours in zip(ref_values, our_values):
        np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(got["dynagraph"][1], table[10], rtol=1e-6)
    np.testing.assert_allclose(got["dynagraph"][3], table[[3, 4]].T, rtol=1e-6)


def test_set_on_a_lookup_checks_the_indices():
    pc = dg.ParameterCollection()
    lp = pc.add_lookup_parameters((4, 2))
    dg.renew_cg()
    e = lp[1]
    with pytest.raises(IndexError, match="out of range"):
        e.set(4)
    with pytest.raises(ValueError, match="2 indices for a lookup of 1 rows"):
        e.set([0, 1])
    with pytest.raises(ValueError, match="only be called on an input expression"):
        (e * 2).set([1.0, 2.0])


# ---------------------------------------------------------------- 7. dropout(x, 1)

@pytest.mark.parametrize("fn, args", [("dropout", ()), ("dropout_batch", ()), ("dropout_dim", (0,))])
def test_dropout_with_p_1_gives_dynets_nan_with_a_warning(fn, args):
    x = np.arange(1.0, 7.0).reshape(2, 3)
    dy.renew_cg()
    ref = getattr(dy, fn)(dy.inputTensor(x), *args, 1.0).npvalue()
    dg.renew_cg()
    with pytest.warns(RuntimeWarning, match="NaN"):
        ours = getattr(dg, fn)(dg.inputTensor(x), *args, 1.0)
    assert np.isnan(ref).all() and np.isnan(ours.npvalue()).all()


def test_block_dropout_with_p_1_gives_dynets_zeros():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    dy.renew_cg()
    ref = dy.block_dropout(dy.inputTensor(x), 1.0).npvalue()
    dg.renew_cg()
    ours = dg.block_dropout(dg.inputTensor(x), 1.0).npvalue()
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ours, np.zeros_like(x))


# ---------------------------------------------------------------- 8. saving for DyNet

def test_a_model_saved_in_dynets_format_loads_in_dynet(tmp_path):
    pc = dg.ParameterCollection()
    W = pc.add_parameters((3, 4), name="W")
    E = pc.add_lookup_parameters((5, 2))
    lstm = dg.VanillaLSTMBuilder(1, 2, 3, pc)
    birnn = dg.BiRNNBuilder(1, 2, 4, pc, dg.LSTMBuilder)
    base = str(tmp_path / "model")
    dg.save(base, [W, E, lstm, birnn], format="dynet")
    m = dy.ParameterCollection()
    _KEEP.append(m)
    W2, E2, lstm2, birnn2 = dy.load(base, m)
    _KEEP.append((lstm2, birnn2))
    np.testing.assert_allclose(W2.as_array(), W.as_array(), rtol=1e-6)
    np.testing.assert_allclose(E2.as_array(), E.as_array(), rtol=1e-6)
    for ours, theirs in ((lstm, lstm2), (birnn, birnn2)):
        a = [p.as_array() for p in ours.param_collection().parameters_list()]
        b = [p.as_array() for p in theirs.param_collection().parameters_list()]
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            np.testing.assert_allclose(y, x, rtol=1e-6)
    # and back: dynagraph reads the same files
    back = dg.load(base, dg.ParameterCollection())
    np.testing.assert_allclose(back[0].as_array(), W.as_array(), rtol=1e-6)
    # The same LSTM computes the same in DyNet.
    dy.renew_cg()
    ref = lstm2.initial_state().add_input(dy.inputVector([0.1, 0.2])).output().npvalue()
    dg.renew_cg()
    ours = lstm.initial_state().add_input(dg.inputVector([0.1, 0.2])).output().npvalue()
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_dynet_format_refuses_what_dynet_could_not_load(tmp_path):
    pc = dg.ParameterCollection()
    tree = dg.ChildSumTreeLSTMBuilder(2, 3, pc)  # dynagraph's own: DyNet has no such class
    (tmp_path / "m.meta").write_text("earlier")
    with pytest.raises(TypeError, match="no DyNet counterpart"):
        dg.save(str(tmp_path / "m"), [pc.add_parameters(2), tree], format="dynet")
    assert (tmp_path / "m.meta").read_text() == "earlier"  # an earlier save survives a failed one
    with pytest.raises(ValueError, match="format must be"):
        dg.save(str(tmp_path / "m"), [], format="json")


def test_dynet_meta_names_dynets_classes_only(tmp_path):
    pc = dg.ParameterCollection()
    gru = dg.GRUBuilder(1, 2, 2, pc)
    dg.save(str(tmp_path / "g"), [gru], format="dynet")
    with open(tmp_path / "g.meta", "rb") as f:
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(f.read())]
    assert ("GLOBAL", "_dynet GRUBuilder") in ops
    with open(tmp_path / "g.meta", "rb") as f:
        cls, spec, name = pickle.load(f)  # `_dynet` is DyNet's module here: its class
    assert cls is dy.GRUBuilder and spec == gru.spec and name == gru.param_collection().name()


# ---------------------------------------------------------------- 9. print(expr)

def test_print_shows_node_and_graph_version_as_dynet():
    texts = {}
    for name, m in LIBS.items():
        m.renew_cg()
        x = m.inputVector([1.0, 2.0])
        y = m.tanh(x * 2)
        texts[name] = [str(x), repr(y), str(y)]
        for t in texts[name]:
            assert re.fullmatch(rf"expression \d+/{m.cg_version()}", t), t
    assert [t.split("/")[0] for t in texts["dynet"]] == [t.split("/")[0] for t in texts["dynagraph"]]
    assert texts["dynagraph"][0] == f"expression 0/{dg.cg_version()}"


# ---------------------------------------------------------------- one error table

def test_an_index_out_of_range_is_dynets_valueerror_and_an_indexerror_on_every_path():
    pc = dg.ParameterCollection()
    lp = pc.add_lookup_parameters((3, 2))
    dg.renew_cg()
    x = dg.inputVector([1.0, 2.0])
    e = lp[0]
    for bad in (lambda: lp[3], lambda: dg.lookup(lp, 3), lambda: dg.lookup_batch(lp, [0, 7]), lambda: lp[[0, 9]],
                lambda: e.set(3), lambda: dg.pick(x, 2), lambda: dg._core.node_expression(10_000)):
        with pytest.raises(dg._core.IndexOutOfRange) as info:
            bad()
        assert isinstance(info.value, IndexError) and isinstance(info.value, ValueError)
