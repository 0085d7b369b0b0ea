"""Saves that never lose data (issue 20, item 4): unique temporaries, an atomic
switch of dy.save's pair, cleanup after killed saves, byte and value counts
checked per entry; and paths holding NUL refused (item 5)."""
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import dynagraph as dy
from dynagraph import serialize
from dynagraph.data import read_conllu, read_listops_tsv, read_ptb_lm, read_sst_trees
from dynagraph.softmax_builders import read_cluster_file
from dynagraph.training import KeepBest


def constant_model(k, n=50):
    pc = dy.ParameterCollection()
    W = pc.add_parameters((n, 3), init=float(k))
    E = pc.add_lookup_parameters((4, n), init=float(k))
    return pc, W, E


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if ".tmp" in name)


def uniform_value(arrays):
    """The one value every element of ``arrays`` holds (asserting there is one)."""
    values = np.unique(np.concatenate([np.ravel(a) for a in arrays]))
    assert len(values) == 1, values
    return float(values[0])


# ---- dy.save's pair
def test_save_writes_a_versioned_data_file_named_by_the_meta(tmp_path):
    pc, W, E = constant_model(1)
    base = str(tmp_path / "m")
    dy.save(base, [W, E])
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 2 and files[1] == "m.meta" and re.fullmatch(r"m\.data\.[0-9a-f]{16}", files[0])
    assert json.loads((tmp_path / "m.meta").read_text())["data_file"] == files[0]
    dy.save(base, [W])                       # the next save replaces the pair and removes the old data
    files2 = sorted(os.listdir(tmp_path))
    assert len(files2) == 2 and files2[0] != files[0]
    assert [o.shape() for o in dy.load(base, dy.ParameterCollection())] == [(50, 3)]


def test_the_previous_layout_still_loads_and_is_replaced(tmp_path):
    pc, W, E = constant_model(3)
    base = str(tmp_path / "old")
    dy.save(base, [W, E])
    meta = json.loads((tmp_path / "old.meta").read_text())
    os.rename(tmp_path / meta.pop("data_file"), tmp_path / "old.data")   # as the version before wrote them
    (tmp_path / "old.meta").write_text(json.dumps(meta))
    W2, E2 = dy.load(base, dy.ParameterCollection())
    assert uniform_value([W2.as_array(), E2.as_array()]) == 3.0
    dy.save(base, [W])
    assert not (tmp_path / "old.data").exists() and len(os.listdir(tmp_path)) == 2


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_crash_between_the_renames_leaves_the_old_model(tmp_path, monkeypatch, fail_at):
    _, W1, E1 = constant_model(1)
    _, W2, E2 = constant_model(2)
    base = str(tmp_path / "m")
    dy.save(base, [W1, E1])
    calls = []
    real_replace = os.replace

    def crashing_replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        dy.save(base, [W2, E2])
    monkeypatch.setattr(os, "replace", real_replace)
    assert uniform_value([o.as_array() for o in dy.load(base, dy.ParameterCollection())]) == 1.0
    assert len(os.listdir(tmp_path)) == 2         # nothing of the failed save is left
    dy.save(base, [W2, E2])
    assert uniform_value([o.as_array() for o in dy.load(base, dy.ParameterCollection())]) == 2.0


def test_concurrent_saves_and_loads_from_threads(tmp_path):
    """Each load sees one complete save; the last save wins whole; nothing is left over."""
    base = str(tmp_path / "c")
    models = [constant_model(k) for k in range(4)]
    dy.save(base, models[0][1:])
    errors, seen = [], set()

    def saver(k):
        try:
            for _ in range(8):
                dy.save(base, models[k][1:])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def loader():
        try:
            for _ in range(15):
                seen.add(uniform_value([o.as_array() for o in dy.load(base, dy.ParameterCollection())]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(k,)) for k in range(4)] + [threading.Thread(target=loader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert seen <= {0.0, 1.0, 2.0, 3.0}
    assert uniform_value([o.as_array() for o in dy.load(base, dy.ParameterCollection())]) in {0.0, 1.0, 2.0, 3.0}
    assert leftovers(tmp_path) == [] and len(os.listdir(tmp_path)) == 2


CONCURRENT_WRITER = """
import sys
import dynagraph as dy
k, path, base = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pc = dy.ParameterCollection()
W = pc.add_parameters((300, 40), init=float(k))
for _ in range(6):
    pc.save(path)
    dy.save(base, [W])
"""


def test_concurrent_saves_from_processes(tmp_path):
    path, base = str(tmp_path / "p.txt"), str(tmp_path / "d")
    writers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(k), path, base],
                                stderr=subprocess.PIPE, text=True) for k in range(1, 4)]
    reads = []
    while any(w.poll() is None for w in writers):
        if os.path.exists(path):
            pc = dy.ParameterCollection()
            W = pc.add_parameters((300, 40))
            pc.populate(path)                    # never a torn file
            reads.append(uniform_value([W.as_array()]))
        time.sleep(0.01)
    for w in writers:
        _, err = w.communicate()
        assert w.returncode == 0, err
    pc = dy.ParameterCollection()
    W = pc.add_parameters((300, 40))
    pc.populate(path)
    assert uniform_value([W.as_array()]) in {1.0, 2.0, 3.0} and set(reads) <= {1.0, 2.0, 3.0}
    (W2,) = dy.load(base, dy.ParameterCollection())
    assert uniform_value([W2.as_array()]) in {1.0, 2.0, 3.0}
    assert leftovers(tmp_path) == [] and len(os.listdir(tmp_path)) == 3


# ---- temporaries of killed saves
STALLED_SAVE = """
import itertools, os, sys, time
import dynagraph as dy
calls, real_fsync = itertools.count(), os.fsync
# stalls flushing its second temporary, holding both, as a save being written
os.fsync = lambda fd: time.sleep(600) if next(calls) == 1 else real_fsync(fd)
pc = dy.ParameterCollection()
dy.save(sys.argv[1], [pc.add_parameters((100, 100))])
"""


def test_a_killed_save_leaves_temporaries_the_next_save_removes(tmp_path):
    base = str(tmp_path / "k")
    _, W, E = constant_model(5)
    dy.save(base, [W, E])
    child = subprocess.Popen([sys.executable, "-c", STALLED_SAVE, base])
    try:
        deadline = time.time() + 60
        while len(leftovers(tmp_path)) < 2 and time.time() < deadline:
            time.sleep(0.05)
        temps = leftovers(tmp_path)
        assert len(temps) == 2 and all(re.fullmatch(r"k\.(data|meta)\.tmp-\w{8}", t) for t in temps), temps
        dy.save(base, [W, E])                # a live writer's temporaries are left alone
        assert leftovers(tmp_path) == temps
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert leftovers(tmp_path) == temps     # the killed save's temporaries stay ...
    dy.save(base, [W])                      # ... until the next save to the same basename
    assert leftovers(tmp_path) == [] and len(os.listdir(tmp_path)) == 2
    (W2,) = dy.load(base, dy.ParameterCollection())
    assert uniform_value([W2.as_array()]) == 5.0


def test_pc_save_removes_only_dead_writers_temporaries(tmp_path):
    pc, W, E = constant_model(7)
    path = tmp_path / "w.txt"
    stale, live = tmp_path / "w.txt.tmp-Ab3dE9", tmp_path / "w.txt.tmp-zz99_x"
    unrelated = [tmp_path / "w.txt.tmp", tmp_path / "w.txt.tmp-toolongname", tmp_path / "x.txt.tmp-Ab3dE9"]
    for f in [stale, live] + unrelated:
        f.write_text("partial")
    with open(live) as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)         # a writer still at work
        pc.save(str(path))
        assert not stale.exists() and live.exists() and all(f.exists() for f in unrelated)
    pc.save(str(path))
    assert not live.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["w.txt"] + [f.name for f in unrelated])
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_keep_best_checkpoints_through_a_unique_temporary(tmp_path, monkeypatch):
    pc, W, E = constant_model(1)
    keep = KeepBest(pc, tmp_path / "best")
    (tmp_path / "best.tmp").write_text("someone else's file")   # the old fixed temporary name
    keep.update(0.5)
    W.set_value(np.zeros((50, 3)))
    keep.restore()
    assert uniform_value([W.as_array()]) == 1.0
    assert (tmp_path / "best.tmp").read_text() == "someone else's file"


# ---- damaged text files
def test_every_cut_of_a_text_file_fails_naming_file_and_entry(tmp_path):
    pc = dy.ParameterCollection()
    W = pc.add_parameters((2, 3), init=dy.NumpyInitializer(np.arange(6).reshape(2, 3) / 7 - 0.3))
    sub = pc.add_subcollection("enc")
    b = sub.add_parameters(3, init=-1.25e-7)
    E = pc.add_lookup_parameters((2, 2), init=3.5)
    path = tmp_path / "m.txt"
    pc.save(str(path))
    text = path.read_bytes()
    target = dy.ParameterCollection()
    Wt, bt, Et = (target.add_parameters((2, 3), init=9.0), target.add_subcollection("enc").add_parameters(3, init=9.0),
                  target.add_lookup_parameters((2, 2), init=9.0))
    names = ["/_0", "/enc/_0", "/_1"]
    cut_file = tmp_path / "cut.txt"
    for cut in range(len(text)):
        cut_file.write_bytes(text[:cut])
        with pytest.raises(ValueError) as err:
            target.populate(str(cut_file))
        message = str(err.value)
        assert "cut.txt" in message, (cut, message)
        assert (any(f"entry {n}:" in message or f"no entry for {n} " in message for n in names)
                or re.search(r"cut\.txt:(\d+): corrupt model file: the entry at line \1:", message)), (cut, message)
        assert uniform_value([Wt.as_array(), bt.as_array(), Et.as_array()]) == 9.0   # nothing changed
    target.populate(str(path))
    np.testing.assert_array_equal(Wt.as_array(), W.as_array())
    np.testing.assert_array_equal(bt.as_array(), b.as_array())


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.replace(b"{2,3} 97", b"{2,3} 96"), "the header announces 96 bytes of values, the file holds 97"),
    (lambda t: t.replace(b"+1.4", b"+1.5"), None),                       # same length: a value edit loads
    (lambda t: t.replace(b"e-01 \n", b"e-01 +1.0e+00 \n", 1), "the header announces 97 bytes"),
    (lambda t: t.replace(b"{2,3} 97 ZERO_GRAD\n", b"{2,3} 113 ZERO_GRAD\n").replace(
        b"e-01 \n", b"e-01 +1.00000000e+00 \n", 1), "shape {2,3} needs 6 values, the file holds more"),
    (lambda t: t.replace(b"+1.4", b"+x.4"), "not a number"),
])
def test_entry_counts_are_checked(tmp_path, damage, message):
    pc = dy.ParameterCollection()
    pc.add_parameters((2, 3), init=dy.NumpyInitializer(np.arange(6).reshape(2, 3) / 7), name="W")
    path = tmp_path / "m.txt"
    pc.save(str(path))
    path.write_bytes(damage(path.read_bytes()))
    if message is None:
        pc.populate(str(path))
    else:
        with pytest.raises(ValueError, match=r"m\.txt:\d+: corrupt model file: entry /W: " + re.escape(message)):
            pc.populate(str(path))


# ---- NUL in paths
def nul_calls(tmp_path):
    pc, W, E = constant_model(1)
    bad = str(tmp_path / "a\x00b")
    return [
        ("ParameterCollection.save: fname", lambda: pc.save(bad)),
        ("ParameterCollection.save: fname", lambda: pc.write_to_textfile(bad)),
        ("ParameterCollection.populate: fname", lambda: pc.populate(bad)),
        ("ParameterCollection.populate: fname", lambda: pc.populate_from_textfile(bad)),
        ("load_param: fname", lambda: pc.load_param(bad, "/W")),
        ("load_lookup_param: fname", lambda: pc.load_lookup_param(bad, "/E")),
        ("Parameters.save: fname", lambda: W.save(bad)),
        ("Parameters.save: fname", lambda: W.write_to_textfile(bad)),
        ("Parameters.populate: fname", lambda: W.populate(bad)),
        ("LookupParameters.save: fname", lambda: E.save(bad)),
        ("LookupParameters.populate: fname", lambda: E.populate(bad)),
        ("dy.save: basename", lambda: dy.save(bad, [W])),
        ("dy.load: basename", lambda: dy.load(bad, pc)),
        ("FromFileInitializer: fname", lambda: dy.FromFileInitializer(bad)),
        ("KeepBest: path", lambda: KeepBest(pc, bad)),
        ("read_cluster_file: cluster_file", lambda: read_cluster_file(bad, {"a": 0})),
        ("dump_cg: filename", lambda: dy.dump_cg(bad)),
        ("read_sst_trees: path", lambda: list(read_sst_trees(bad))),
        ("read_ptb_lm: path", lambda: list(read_ptb_lm(bad))),
        ("read_conllu: path", lambda: list(read_conllu(bad))),
        ("read_listops_tsv: path", lambda: list(read_listops_tsv(bad))),
        ("load_param: fname", lambda: dy._core._saved_dim(bad, False, "/W")),
        ("saved_entries: fname", lambda: dy._core._saved_entries(bad)),
    ]


def test_paths_with_nul_are_refused_naming_the_argument(tmp_path):
    dy.renew_cg()
    for expected, call in nul_calls(tmp_path):
        with pytest.raises(ValueError, match=re.escape(expected) + " contains a NUL character"):
            call()
    assert os.listdir(tmp_path) == []          # nothing written under the part before the NUL


def test_empty_paths_are_refused():
    pc, W, E = constant_model(1)
    for call in (lambda: pc.save(""), lambda: W.save(""), lambda: dy.save("", [W])):
        with pytest.raises(ValueError, match="is empty"):
            call()
    with pytest.raises(TypeError, match="dy.save: basename must be a path"):
        dy.save(3, [W])


def test_save_accepts_path_objects(tmp_path):
    pc, W, E = constant_model(2)
    dy.save(tmp_path / "po", [W])
    pc.save(tmp_path / "po.txt")
    assert uniform_value([dy.load(tmp_path / "po", dy.ParameterCollection())[0].as_array()]) == 2.0
    assert serialize._data_pattern(str(tmp_path / "po")).fullmatch(
        json.loads((tmp_path / "po.meta").read_text())["data_file"])
