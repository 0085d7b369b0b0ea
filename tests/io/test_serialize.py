"""dy.save / dy.load round trips, and clear errors for damaged files."""
import numpy as np
import pytest

import dynagraph as dy


class UserMLP:
    """A user object following DyNet's save protocol."""

    def __init__(self, model, n_in, n_out, act=dy.tanh):
        self.pc = model.add_subcollection("mlp")
        self.W = self.pc.add_parameters((n_out, n_in))
        self.E = self.pc.add_lookup_parameters((5, n_in))
        self.spec = (n_in, n_out, act)

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        n_in, n_out, act = spec
        return UserMLP(model, n_in, n_out, act)


def run_builder(b, xs):
    dy.renew_cg()
    return b.initial_state().transduce([dy.inputVector(x) for x in xs])[-1].npvalue()


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pc = dy.ParameterCollection()
    p = pc.add_parameters((2, 3))
    lp = pc.add_lookup_parameters((4, 2))
    objs = [p, dy.VanillaLSTMBuilder(2, 3, 4, pc), lp, dy.GRUBuilder(1, 3, 2, pc),
            dy.BiRNNBuilder(1, 3, 4, pc, dy.CoupledLSTMBuilder), UserMLP(pc, 3, 2),
            dy.NaryTreeLSTMBuilder(2, 3, 4, pc), dy.CRF(3, pc), dy.GraphLSTMBuilder(2, 3, 4, pc)]
    base = str(tmp_path / "m")
    dy.save(base, objs)
    pc2 = dy.ParameterCollection()
    pc2.add_parameters((7,))                                 # unrelated parameters already there
    loaded = dy.load(base, pc2, classes=[UserMLP])  # a user class: named by the caller
    assert [type(o) for o in loaded] == [type(o) for o in objs]
    np.testing.assert_array_equal(loaded[0].as_array(), p.as_array())
    np.testing.assert_array_equal(loaded[2].as_array(), lp.as_array())
    xs = [rng.normal(size=3) for _ in range(3)]
    np.testing.assert_allclose(run_builder(loaded[1], xs), run_builder(objs[1], xs), atol=1e-6)
    np.testing.assert_allclose(run_builder(loaded[3], xs), run_builder(objs[3], xs), atol=1e-6)
    dy.renew_cg()
    a = objs[4].transduce([dy.inputVector(x) for x in xs])[0].npvalue()
    b = loaded[4].transduce([dy.inputVector(x) for x in xs])[0].npvalue()
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert loaded[5].spec[2] is dy.tanh
    np.testing.assert_array_equal(loaded[5].E.as_array(), objs[5].E.as_array())
    for old, new in ((objs[6], loaded[6]), (objs[7], loaded[7]), (objs[8], loaded[8])):
        for po, pn in zip(sum(map(list, old.get_parameters()), []) if old is not objs[7] else old.get_parameters(),
                          sum(map(list, new.get_parameters()), []) if new is not loaded[7] else new.get_parameters()):
            np.testing.assert_array_equal(po.as_array(), pn.as_array())


def test_saved_values_differ_from_fresh_ones(tmp_path):
    pc = dy.ParameterCollection()
    b = dy.SimpleRNNBuilder(1, 2, 2, pc)
    b.get_parameters()[0][0].set_value(np.full((2, 2), 0.25))
    dy.save(str(tmp_path / "r"), [b])
    (b2,) = dy.load(str(tmp_path / "r"), dy.ParameterCollection())
    np.testing.assert_array_equal(b2.get_parameters()[0][0].as_array(), np.full((2, 2), 0.25))


def test_corrupt_and_missing_files(tmp_path):
    pc = dy.ParameterCollection()
    base = str(tmp_path / "m")
    dy.save(base, [dy.SimpleRNNBuilder(1, 2, 3, pc)])
    (data,) = tmp_path.glob("m.data.*")              # the data file the meta names
    data.write_text(data.read_text()[: len(data.read_text()) // 2])
    with pytest.raises(ValueError, match=r"m\.data\.[0-9a-f]{16}: corrupt or truncated"):
        dy.load(base, dy.ParameterCollection())
    meta = tmp_path / "m.meta"
    meta.write_text(meta.read_text()[:20])
    with pytest.raises(ValueError, match=r"m\.meta: corrupt or truncated"):
        dy.load(base, dy.ParameterCollection())
    with pytest.raises(OSError, match="nothere.meta"):
        dy.load(str(tmp_path / "nothere"), dy.ParameterCollection())


def test_unsaveable_objects_and_no_leftover_temp_files(tmp_path):
    pc = dy.ParameterCollection()
    with pytest.raises(TypeError, match="has no spec"):
        dy.save(str(tmp_path / "x"), [object()])
    mlp = UserMLP(pc, 2, 2, act=lambda v: v)
    with pytest.raises(TypeError, match="cannot store function"):
        dy.save(str(tmp_path / "x"), [mlp])
    assert list(tmp_path.iterdir()) == []


class Scorer:
    """A user object with DyNet's save protocol, importable by its module path."""

    def __init__(self, model, dim):
        self.pc = model.add_subcollection("scorer")
        self.w = self.pc.add_parameters((1, dim))
        self.spec = (dim,)

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        return Scorer(model, *spec)


def test_loads_what_dynet_saved(tmp_path):
    """A model saved by DyNet's dy.save loads with dy.load and computes what DyNet computes."""
    dynet = pytest.importorskip("dynet")
    import test_serialize as here  # Scorer must pickle under an importable module name
    base = str(tmp_path / "dynet_model")
    m = dynet.ParameterCollection()
    W = m.add_parameters((3, 4), name="W")
    E = m.add_lookup_parameters((5, 4), name="E")
    lstm = dynet.VanillaLSTMBuilder(2, 4, 3, m)
    bi = dynet.BiRNNBuilder(1, 4, 6, m, dynet.SimpleRNNBuilder)
    scorer = here.Scorer(m, 3)
    dynet.save(base, [W, E, lstm, bi, scorer])
    x = np.arange(4, dtype=np.float32) / 4

    def run(lib, objs):
        W, E, lstm, bi, scorer = objs
        lib.renew_cg()
        xs = [E[1], E[3], lib.inputVector(list(x))]
        h = lstm.initial_state().transduce(xs)[-1]
        return np.concatenate([(W * xs[2]).npvalue().ravel(), h.npvalue().ravel(),
                               bi.transduce(xs)[-1].npvalue().ravel(), (scorer.w * h).npvalue().ravel()])

    expected = run(dynet, [W, E, lstm, bi, scorer])
    pc = dy.ParameterCollection()
    loaded = dy.load(base, pc)
    assert [type(o).__name__ for o in loaded] == ["Parameters", "LookupParameters", "VanillaLSTMBuilder",
                                                   "BiRNNBuilder", "Scorer"]
    np.testing.assert_array_equal(loaded[0].as_array(), W.as_array())
    np.testing.assert_array_equal(loaded[1].as_array(), E.as_array())
    np.testing.assert_allclose(run(dy, loaded), expected, rtol=1e-5, atol=1e-6)


def test_a_dynet_meta_may_name_only_what_a_save_needs(tmp_path):
    import pickle
    base = str(tmp_path / "evil")
    open(base + ".data", "w").close()
    with open(base + ".meta", "wb") as f:
        pickle.dump((__import__("os").system, ("true",), "/x/"), f)
    with pytest.raises(ValueError, match="refusing to load posix.system"):
        dy.load(base, dy.ParameterCollection())


def test_a_dynet_meta_naming_a_module_not_imported_is_refused(tmp_path, monkeypatch):
    """Loading would import the module the file names and run its code: the program imports it first."""
    import pickle
    import sys
    import types
    fake = types.ModuleType("not_imported_here")

    class Builder:
        @staticmethod
        def from_spec(spec, model):  # pragma: no cover - never reached
            raise AssertionError
    Builder.__module__, Builder.__qualname__ = fake.__name__, "Builder"
    fake.Builder = Builder
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    base = str(tmp_path / "m")
    open(base + ".data", "w").close()
    with open(base + ".meta", "wb") as f:
        pickle.dump((Builder, (1,), "/b/"), f)
    monkeypatch.delitem(sys.modules, fake.__name__)
    with pytest.raises(ValueError, match="import not_imported_here before dy.load"):
        dy.load(base, dy.ParameterCollection())
