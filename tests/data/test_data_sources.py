"""One rule for finding the real data sets (dynagraph.data.sources), and the one-line
message every example and benchmark gives when its data is missing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynagraph.data.sources import DATASETS, DatasetMissing, default_dir, find_dataset

REPO = Path(__file__).resolve().parents[2]


def _fill(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in DATASETS[name].files:
        (folder / f).write_text("x\n")
    return folder


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_rule_order_option_then_environment_then_checkout(tmp_path, monkeypatch, name):
    env = DATASETS[name].env
    checkout = tmp_path / "clone"
    checkout.mkdir()
    beside = _fill(tmp_path / "shared" / "data" / name, name)
    monkeypatch.delenv(env, raising=False)
    assert find_dataset(name, None, checkout=checkout) == beside
    assert default_dir(name, checkout) == beside
    from_env = _fill(tmp_path / "env", name)
    monkeypatch.setenv(env, str(from_env))
    assert find_dataset(name, None, checkout=checkout) == from_env
    given = _fill(tmp_path / "given", name)
    assert find_dataset(name, str(given), checkout=checkout) == given


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_missing_data_names_the_file_the_variable_the_source_and_licence(tmp_path, monkeypatch, name):
    ds = DATASETS[name]
    monkeypatch.delenv(ds.env, raising=False)
    half = tmp_path / "half"
    half.mkdir()
    (half / ds.files[0]).write_text("x\n")
    with pytest.raises(DatasetMissing) as e:
        find_dataset(name, str(half))
    msg = str(e.value)
    assert "\n" not in msg
    assert str(half / ds.files[1]) in msg and "--data-dir" in msg and ds.env in msg
    assert ds.source in msg and ds.licence in msg
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(DatasetMissing, match="no .*nowhere"):
        find_dataset(name, str(tmp_path / "nowhere"))


def test_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="find_dataset: unknown data set 'mnist'"):
        find_dataset("mnist", "/")


# Every script that reads a shared data set, run as a user would with the data absent.
SCRIPTS = [
    (["examples/treelstm/train.py", "--data", "sst"], "sst"),
    (["examples/rnnlm/train.py"], "ptb"),
    (["examples/tagger/train.py"], "ud_ewt"),
    (["examples/graphlstm/train.py"], "ud_ewt"),
    (["benchmarks/treenn.py", "--quick", "--libs", "dynagraph"], "sst"),
    (["benchmarks/rnnlm_batch.py", "--quick", "--libs", "dynagraph"], "ptb"),
    (["benchmarks/bilstm_tagger.py", "--quick", "--libs", "dynagraph"], "ud_ewt"),
]


@pytest.mark.parametrize("argv,name", SCRIPTS, ids=[s[0][0] for s in SCRIPTS])
def test_scripts_without_their_data_say_what_is_missing_in_one_line(tmp_path, argv, name):
    ds = DATASETS[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNAGRAPH_")}
    env[ds.env] = str(tmp_path / "absent")
    out = subprocess.run([sys.executable, str(REPO / argv[0]), *argv[1:]], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if ds.env in line]
    assert len(lines) == 1, text
    assert str(tmp_path / "absent") in lines[0] and ds.source in lines[0] and ds.licence in lines[0]
    # The examples stop with an error; the benchmarks skip (run_all goes on to the next).
    assert (out.returncode != 0) == argv[0].startswith("examples/"), text
