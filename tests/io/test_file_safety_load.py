"""Loading a model file never runs code the file names and never allocates what
the file merely announces (issue 20, item 1); a failed load changes nothing."""
import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynagraph as dy


class UserMLP:
    """A user object following DyNet's save protocol."""

    def __init__(self, model, n_in, n_out, act=dy.tanh):
        self.pc = model.add_subcollection("mlp")
        self.W = self.pc.add_parameters((n_out, n_in))
        self.spec = (n_in, n_out, act)

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        n_in, n_out, act = spec
        return UserMLP(model, n_in, n_out, act)


def user_activation(x):
    return dy.rectify(x)


@dy.saveable
class RegisteredScorer:
    def __init__(self, model, dim):
        self.pc = model.add_subcollection("scorer")
        self.w = self.pc.add_parameters((1, dim))
        self.spec = {"dim": dim}

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        return RegisteredScorer(model, spec["dim"])


def saved_rnn(tmp_path, name="m"):
    """A saved SimpleRNNBuilder; returns (basename, its meta as a dict)."""
    base = str(tmp_path / name)
    dy.save(base, [dy.SimpleRNNBuilder(1, 2, 3, dy.ParameterCollection())])
    with open(base + ".meta") as f:
        return base, json.load(f)


def write_meta(base, meta):
    with open(base + ".meta", "w") as f:
        json.dump(meta, f)


@pytest.fixture
def evil_package(tmp_path, monkeypatch):
    """A package on sys.path whose import would write a marker file."""
    root = tmp_path / "importable"
    (root / "evilpkg").mkdir(parents=True)
    marker = tmp_path / "IMPORTED"
    (root / "evilpkg" / "__init__.py").write_text("")
    (root / "evilpkg" / "payload.py").write_text(textwrap.dedent(f"""
        open({str(marker)!r}, "w").write("ran")

        class Builder:
            @staticmethod
            def from_spec(spec, model):
                open({str(marker)!r}, "w").write("called")

        def hook(*args):
            open({str(marker)!r}, "w").write("called")
        """))
    monkeypatch.syspath_prepend(str(root))
    yield marker
    for name in ("evilpkg", "evilpkg.payload"):
        sys.modules.pop(name, None)


def test_a_class_named_by_the_file_is_never_imported(tmp_path, evil_package):
    base, meta = saved_rnn(tmp_path)
    meta["objects"][0]["class"] = "evilpkg.payload:Builder"
    write_meta(base, meta)
    pc = dy.ParameterCollection()
    with pytest.raises(ValueError, match=r"m\.meta: object 0 names 'evilpkg\.payload:Builder'.*classes=\[\.\.\.\]"):
        dy.load(base, pc)
    assert not evil_package.exists() and "evilpkg.payload" not in sys.modules
    assert pc.parameters_list() == []


@pytest.mark.parametrize("ref", ["builtins:print", "os:system", "posix:system", "evilpkg.payload:hook",
                                 "dynagraph:save", "dynagraph:load", "dynagraph._core:save", "subprocess:run",
                                 "dynagraph.serialize:_write_pair", 42, None])
def test_a_function_named_in_a_spec_is_refused(tmp_path, evil_package, capsys, ref):
    base, meta = saved_rnn(tmp_path)
    call = [str(evil_package), f"touch {evil_package}"]
    meta["objects"][0]["spec"] = {"__tuple__": [{"__ref__": ref}, call, 2, 3]}
    write_meta(base, meta)
    with pytest.raises(ValueError, match=r"m\.meta: object 0 names .*never imports or calls"):
        dy.load(base, dy.ParameterCollection())
    assert not evil_package.exists() and "evilpkg.payload" not in sys.modules
    assert capsys.readouterr().out == ""


def test_refs_nested_anywhere_in_a_spec_are_refused(tmp_path):
    base, meta = saved_rnn(tmp_path)
    meta["objects"][0]["spec"] = [1, {"__dict__": {"a": [{"__tuple__": [{"__ref__": "os:system"}]}]}}]
    write_meta(base, meta)
    with pytest.raises(ValueError, match="'os:system'"):
        dy.load(base, dy.ParameterCollection())


def test_user_classes_load_only_when_named_or_registered(tmp_path):
    pc = dy.ParameterCollection()
    mlp, scorer = UserMLP(pc, 3, 2, act=user_activation), RegisteredScorer(pc, 4)
    base = str(tmp_path / "u")
    dy.save(base, [mlp, scorer])
    with pytest.raises(ValueError, match=r"u\.meta: object 0 names '[\w.]*:UserMLP'.*"
                                         r"dy\.load\(basename, params, classes=\[\.\.\.\]\).*@dy\.saveable"):
        dy.load(base, dy.ParameterCollection())
    with pytest.raises(ValueError, match="user_activation"):   # the function in its spec too
        dy.load(base, dy.ParameterCollection(), classes=[UserMLP])
    mlp2, scorer2 = dy.load(base, dy.ParameterCollection(), classes=[UserMLP, user_activation])
    assert mlp2.spec[2] is user_activation and isinstance(scorer2, RegisteredScorer)  # registered: not listed
    np.testing.assert_array_equal(mlp2.W.as_array(), mlp.W.as_array())
    np.testing.assert_array_equal(scorer2.w.as_array(), scorer.w.as_array())
    with pytest.raises(TypeError, match="dy.load: classes must hold classes or functions"):
        dy.load(base, dy.ParameterCollection(), classes=["UserMLP"])


def test_dynagraph_functions_and_builders_in_specs_still_load(tmp_path):
    pc = dy.ParameterCollection()
    objs = [UserMLP(pc, 2, 2, act=dy.logistic), dy.BiRNNBuilder(1, 3, 4, pc, dy.CoupledLSTMBuilder)]
    dy.save(str(tmp_path / "b"), objs)
    mlp, bi = dy.load(str(tmp_path / "b"), dy.ParameterCollection(), classes=UserMLP)
    assert mlp.spec[2] is dy.logistic and type(bi) is dy.BiRNNBuilder


def huge_json_pairs(tmp_path):
    """Two saves whose meta files announce far more than their data files hold:
    a parameter of shape [100000, 100000], and a builder whose spec asks for one."""
    pc = dy.ParameterCollection()
    bases = []
    for name, edit in (("shape", lambda m: m["objects"][0].update(shape=[100000, 100000])),
                       ("spec", lambda m: m["objects"][1]["spec"]["__tuple__"].__setitem__(slice(1, 3),
                                                                                            [100000, 100000]))):
        base = str(tmp_path / name)
        dy.save(base, [pc.add_parameters((2, 3)), dy.SimpleRNNBuilder(1, 2, 3, pc)])
        with open(base + ".meta") as f:
            meta = json.load(f)
        edit(meta)
        write_meta(base, meta)
        bases.append(base)
    return bases


def test_a_huge_json_shape_is_refused_before_allocating(tmp_path):
    import tracemalloc
    shape_base, spec_base = huge_json_pairs(tmp_path)
    pc = dy.ParameterCollection()
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"shape\.meta: object 0: the meta file gives shape \[100000, 100000\]"):
        dy.load(shape_base, pc)
    with pytest.raises(ValueError, match=r"spec\.meta: object 1 \(data file .*spec\.data\.[0-9a-f]{16}\): re-creating "
                                         r"it asks for a parameter of shape \(100000, 100000\)"):
        dy.load(spec_base, pc)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20 and pc.parameters_list() == []


HUGE_LOADS = """
import resource, sys
import dynagraph as dy
# at most 1 GiB more address space: allocating what a file announces would fail
with open("/proc/self/status") as f:
    vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))
path, dynet_base, *json_bases = sys.argv[1:]
pc = dy.ParameterCollection()
W = pc.add_parameters((2, 2))
calls = [lambda: pc.populate(path), lambda: W.populate(path, "/W"), lambda: pc.load_param(path, "/W"),
         lambda: dy.load(dynet_base, pc)] + [lambda b=b: dy.load(b, pc) for b in json_bases]
for call in calls:
    try:
        call()
    except ValueError as e:
        print("ValueError", e)
    except MemoryError as e:
        print("MemoryError", e)
"""


def test_huge_sizes_are_refused_without_allocating(tmp_path):
    """{65536,65536} announces 16 GiB of floats in a file of a few bytes: refused
    from the header, in a process that could not even allocate 1 GiB more; the
    same for the JSON meta files above."""
    path = tmp_path / "huge.txt"
    path.write_text("#Parameter# /W {65536,65536} 9 ZERO_GRAD\n1 2 3 4\n")
    base = tmp_path / "pk"
    with open(str(base) + ".meta", "wb") as f:   # DyNet's pickle layout, its data the same header
        pickle.dump(("Parameters", "/W"), f, protocol=2)
    (tmp_path / "pk.data").write_text(path.read_text())
    out = subprocess.run([sys.executable, "-c", HUGE_LOADS, str(path), str(base), *huge_json_pairs(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 6 and all(line.startswith("ValueError") for line in lines), out.stdout
    assert all("entry /W: the header announces 9 bytes of values but only 8 follow" in line for line in lines[:4])
    assert "huge.txt:1" in lines[0] and "pk.data:1" in lines[3]
    assert "shape.meta: object 0" in lines[4] and "spec.meta: object 1" in lines[5]


def test_announced_values_must_fit_the_announced_bytes(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("#Parameter# /W {65536,65536} 8 ZERO_GRAD\n1 2 3 4\n")
    with pytest.raises(ValueError, match=r"m\.txt:1: corrupt model file: entry /W: shape \{65536,65536\} needs "
                                         r"4294967296 values, more than 8 bytes can hold"):
        dy.ParameterCollection().load_param(str(path), "/W")
    path.write_text("#Parameter# /W {4294967297} 8 ZERO_GRAD\n1 2 3 4\n")
    with pytest.raises(ValueError, match="bad shape"):
        dy.ParameterCollection().load_param(str(path), "/W")
    path.write_text("#Parameter# /W {2,3} 999999999999999999999 ZERO_GRAD\n1\n")
    with pytest.raises(ValueError, match="bad byte count"):
        dy.ParameterCollection().load_param(str(path), "/W")


# ---- DyNet's pickle layout: only what a save needs may be named
class Exploit:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def dynet_pair(tmp_path, payload, protocol):
    base = str(tmp_path / f"dn{protocol}")
    open(base + ".data", "w").close()
    with open(base + ".meta", "wb") as f:
        pickle.dump(payload, f, protocol=protocol)
    return base


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("shape", ["top", "in a spec", "in a dict", "dotted name"])
def test_a_dynet_meta_never_calls_what_it_names(tmp_path, protocol, shape):
    marker = tmp_path / "RAN"
    if shape == "dotted name":   # protocol >= 4 names it by its qualified name, 2 and 3 through getattr
        bad = Exploit(dy.BiRNNBuilder.from_spec, ((1, 2, 3, None), None))
    else:
        bad = Exploit(os.system, (f"touch {marker}",))
    payload = {"top": bad, "in a spec": (dy.SimpleRNNBuilder, (1, bad), "/r/"),
               "in a dict": (dy.GRUBuilder, {"x": [bad]}, "/g/"), "dotted name": ("Parameters", bad)}[shape]
    base = dynet_pair(tmp_path, payload, protocol)
    with pytest.raises(ValueError, match=r"dn\d\.meta: object 0: refusing to load "
                                         r"(posix\.system|builtins\.getattr|dynagraph[\w.]*BiRNNBuilder\.from_spec)"):
        dy.load(base, dy.ParameterCollection())
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_dynet_meta_cannot_call_allowed_classes_or_allocate(tmp_path, protocol):
    """Classes a save may name are references only: calling one is refused; and
    plain-data constructors cannot be made to allocate what the file announces."""
    base = dynet_pair(tmp_path, Exploit(dy.SimpleRNNBuilder, (1, 100000, 100000, None)), protocol)
    with pytest.raises(ValueError, match=r"object 0: .*SimpleRNNBuilder.*may only be named"):
        dy.load(base, dy.ParameterCollection())
    base = dynet_pair(tmp_path, ("Parameters", Exploit(bytearray, (2**40,))), protocol)
    with pytest.raises(ValueError, match=r"object 0: bytearray"):
        dy.load(base, dy.ParameterCollection())


def test_a_dynet_spec_cannot_allocate_more_than_the_data_holds(tmp_path):
    base = dynet_pair(tmp_path, (dy.SimpleRNNBuilder, (1, 100000, 100000), "/simple-rnn-builder/"), 2)
    pc = dy.ParameterCollection()
    with pytest.raises(ValueError, match=r"dn2\.meta: object 0 \(data file .*\): re-creating it asks for a parameter"):
        dy.load(base, pc)
    assert pc.parameters_list() == []


# ---- a failed load changes nothing
class Broken:
    """Saves fine; from_spec makes a parameter of another shape than saved."""

    def __init__(self, model, n):
        self.pc = model.add_subcollection("broken")
        self.W = self.pc.add_parameters((n, n))
        self.spec = n

    def param_collection(self):
        return self.pc

    @staticmethod
    def from_spec(spec, model):
        broken = Broken.__new__(Broken)        # fewer values than saved, in another shape
        broken.pc = model.add_subcollection("broken")
        broken.W = broken.pc.add_parameters((spec + 1, spec - 1))
        return broken


def test_a_failed_load_leaves_the_collection_unchanged(tmp_path, monkeypatch):
    src = dy.ParameterCollection()
    base = str(tmp_path / "f")
    dy.save(base, [src.add_parameters((2,)), dy.SimpleRNNBuilder(1, 2, 3, src), Broken(src, 3)])
    pc = dy.ParameterCollection()
    W = pc.add_parameters((3,), init=1.0)
    pc.add_subcollection("simple-rnn-builder")
    before = [p.name() for p in pc.parameters_list()]
    with pytest.raises(ValueError, match=r"f\.data\.[0-9a-f]{16}: entry /obj2/_0 has shape \{3,3\} "
                                         r"but /broken/_0 has shape \{4,2\}"):
        dy.load(base, pc, classes=[Broken])
    assert [p.name() for p in pc.parameters_list()] == before
    np.testing.assert_array_equal(W.as_array(), np.ones(3))
    # names handed out during the failed load are free again
    assert pc.add_subcollection("broken").add_parameters(1).name() == "/broken/_0"
    assert pc.add_parameters(1).name() == "/_1"
    monkeypatch.setattr(Broken, "from_spec", staticmethod(lambda spec, model: Broken(model, spec + 1)))  # more
    with pytest.raises(ValueError, match=r"f\.meta: object 2 \(data file .*\): re-creating it asks for a parameter "
                                         r"of shape \(4, 4\) \(16 values\), but the data file holds only 9"):
        dy.load(base, pc, classes=[Broken])
    assert len(pc.parameters_list()) == len(before) + 2


def test_a_failed_populate_changes_no_value(tmp_path):
    pc = dy.ParameterCollection()
    pc.add_parameters((2,), init=1.0)
    pc.add_parameters((3,), init=2.0)
    path = str(tmp_path / "m.txt")
    pc.save(path)
    other = dy.ParameterCollection()
    a, b = other.add_parameters((2,), init=5.0), other.add_parameters((4,), init=6.0)
    with pytest.raises(ValueError, match=r"m\.txt: entry /_1 has shape \{3\} but /_1 has shape \{4\}"):
        other.populate(path)
    np.testing.assert_array_equal(a.as_array(), [5.0, 5.0])   # not half-populated
    np.testing.assert_array_equal(b.as_array(), [6.0] * 4)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_distributed_checkpoint_holds_plain_data_only(tmp_path, protocol):
    from dynagraph.distributed import checkpoint
    state = {"values": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "clock": 3, "done": [1, 2],
             "sums": {"w": (np.float64(2.5), {1, 2})}, "scheme": "ps"}
    path = tmp_path / "s.ckpt"
    path.write_bytes(pickle.dumps(state, protocol=protocol))
    loaded = checkpoint.load(str(path))
    np.testing.assert_array_equal(loaded["values"]["w"], state["values"]["w"])
    assert loaded["sums"] == state["sums"] and loaded["done"] == [1, 2]
    marker = tmp_path / "RAN"
    path.write_bytes(pickle.dumps({"values": Exploit(os.system, (f"touch {marker}",))}, protocol=protocol))
    with pytest.raises(ValueError, match=r"s\.ckpt: refusing to load posix\.system: checkpoint .* plain data only"):
        checkpoint.load(str(path))
    assert not marker.exists()
