"""Saving and loading parameters in DyNet's text format."""
import numpy as np
import pytest

import dynagraph as dy


def make(seed):
    dy.init(seed=seed)
    pc = dy.ParameterCollection()
    W = pc.add_parameters((3, 2), name="W")
    sub = pc.add_subcollection("enc")
    b = sub.add_parameters(3)
    E = pc.add_lookup_parameters((4, 2), name="E")
    return pc, W, b, E


def test_save_populate_round_trip(tmp_path):
    pc, W, b, E = make(1)
    path = tmp_path / "model.txt"
    pc.save(str(path))
    pc2, W2, b2, E2 = make(2)
    assert not np.allclose(W.as_array(), W2.as_array())
    pc2.populate(str(path))
    for p, q in [(W, W2), (b, b2), (E, E2)]:
        np.testing.assert_array_equal(p.as_array(), q.as_array())
    assert not list(tmp_path.glob("*.tmp"))


def test_names_follow_dynet():
    pc, W, b, E = make(1)
    assert (W.name(), b.name(), E.name()) == ("/W", "/enc/_0", "/E")
    W_again = pc.add_parameters(2, name="W")
    assert W_again.name() == "/W_1"
    with pytest.raises(ValueError, match="may not contain '/'"):
        pc.add_parameters(2, name="a/b")


def test_file_format_is_dynet_text(tmp_path):
    pc = dy.ParameterCollection()
    pc.add_parameters((2, 2), init=dy.NumpyInitializer(np.array([[1.0, 2.0], [3.0, 4.0]])), name="W")
    path = tmp_path / "m.txt"
    pc.save(str(path))
    lines = path.read_text().splitlines()
    assert lines[0] == "#Parameter# /W {2,2} 65 ZERO_GRAD"
    # Column-major values, as DyNet writes them.
    assert [float(v) for v in lines[1].split()] == [1.0, 3.0, 2.0, 4.0]


def test_truncated_file_raises_with_position(tmp_path):
    pc, *_ = make(1)
    path = tmp_path / "model.txt"
    pc.save(str(path))
    text = path.read_text()
    bad = tmp_path / "bad.txt"
    bad.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"bad.txt:\d+: corrupt model file"):
        pc.populate(str(bad))
    bad.write_text("#Parameter# /W {3,x} 10 ZERO_GRAD\n1 2 3\n")
    with pytest.raises(ValueError, match="bad shape"):
        pc.populate(str(bad))
    with pytest.raises(OSError, match="cannot open"):
        pc.populate(str(tmp_path / "missing.txt"))


def test_shape_mismatch_on_populate(tmp_path):
    pc, *_ = make(1)
    path = tmp_path / "model.txt"
    pc.save(str(path))
    other = dy.ParameterCollection()
    other.add_parameters((2, 3))
    with pytest.raises(ValueError, match="has shape"):
        other.populate(str(path))


def test_reads_files_written_by_dynet(tmp_path):
    dynet = pytest.importorskip("dynet")
    m = dynet.ParameterCollection()
    W = m.add_parameters((3, 4))
    E = m.add_lookup_parameters((5, 2))
    path = tmp_path / "dynet_model.txt"
    m.save(str(path))
    pc = dy.ParameterCollection()
    W2 = pc.add_parameters((3, 4))
    E2 = pc.add_lookup_parameters((5, 2))
    pc.populate(str(path))
    np.testing.assert_allclose(W2.as_array(), W.as_array(), rtol=1e-7)
    np.testing.assert_allclose(E2.as_array(), E.as_array(), rtol=1e-7)


def test_dynet_reads_our_files(tmp_path):
    dynet = pytest.importorskip("dynet")
    pc, W, b, E = make(3)
    path = tmp_path / "ours.txt"
    pc.save(str(path))
    m = dynet.ParameterCollection()
    W2 = m.add_parameters((3, 2))
    b2 = m.add_parameters(3)
    E2 = m.add_lookup_parameters((4, 2))
    m.populate(str(path))
    np.testing.assert_allclose(W2.as_array(), W.as_array(), rtol=1e-7)
    np.testing.assert_allclose(b2.as_array(), b.as_array(), rtol=1e-7)
    np.testing.assert_allclose(E2.as_array(), E.as_array(), rtol=1e-7)


def test_single_parameter_populate_by_key(tmp_path):
    pc, W, b, E = make(4)
    path = tmp_path / "m.txt"
    pc.save(str(path))
    pc2, W2, b2, E2 = make(5)
    W2.populate(str(path), "/W")
    np.testing.assert_array_equal(W2.as_array(), W.as_array())
    E2.populate(str(path), "/E")
    np.testing.assert_array_equal(E2.as_array(), E.as_array())
    with pytest.raises(ValueError, match="no #Parameter# entry named '/nope'"):
        W2.populate(str(path), "/nope")


def test_one_parameter_saved_and_read_back_by_key(tmp_path):
    """Parameters.save / write_to_textfile write one entry (appending when asked);
    populate_from_textfile reads it back; DyNet reads the entries too."""
    pc, W, b, E = make(6)
    path = str(tmp_path / "one.txt")
    W.save(path, "/first")
    W.write_to_textfile(path, key="/second", append=True)
    E.save(path, append=True)                      # under its own name
    with open(path) as f:
        headers = [line.split()[:3] for line in f if line.startswith("#")]
    assert headers == [["#Parameter#", "/first", "{3,2}"], ["#Parameter#", "/second", "{3,2}"],
                       ["#LookupParameter#", "/E", "{2,4}"]]
    pc2, W2, b2, E2 = make(7)
    W2.populate_from_textfile(path, "/second")
    E2.populate_from_textfile(path, "/E")
    np.testing.assert_array_equal(W2.as_array(), W.as_array())
    np.testing.assert_array_equal(E2.as_array(), E.as_array())
    dynet = pytest.importorskip("dynet")
    m = dynet.ParameterCollection()
    W3 = m.add_parameters((3, 2))
    W3.populate(path, "/first")
    np.testing.assert_allclose(W3.as_array(), W.as_array(), rtol=1e-7)


def test_load_param_adds_what_the_file_holds(tmp_path):
    pc, W, b, E = make(8)
    F = pc.add_lookup_parameters((5, 2, 3), name="F")
    path = str(tmp_path / "m.txt")
    pc.save(path)
    fresh = dy.ParameterCollection()
    enc = fresh.add_subcollection("dec")
    b2 = enc.load_param(path, "/enc/_0")
    assert b2.name() == "/dec/_0" and b2.shape() == (3,)
    np.testing.assert_array_equal(b2.as_array(), b.as_array())
    F2 = fresh.load_lookup_param(path, "/F")
    assert F2.name() == "/F" and F2.shape() == (5, 2, 3)
    np.testing.assert_array_equal(F2.as_array(), F.as_array())
    again = fresh.load_param(path, "/W")
    assert again.name() == "/W" and fresh.load_param(path, "/W").name() == "/W_1"  # names stay unique
    with pytest.raises(ValueError, match="no #Parameter# entry named '/nope'"):
        fresh.load_param(path, "/nope")
    with pytest.raises(ValueError, match="no #LookupParameter# entry named '/W'"):
        fresh.load_lookup_param(path, "/W")
    with pytest.raises(ValueError, match="needs the key of one entry"):
        fresh.load_param(path, "")
