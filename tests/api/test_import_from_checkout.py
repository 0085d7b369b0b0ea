"""`import dynagraph` in a checkout's root, where the source folder (no compiled engine) shadows the
installed package, names the problem and what to do instead of a bare ModuleNotFoundError."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dynagraph


def test_a_source_folder_without_its_engine_says_what_to_do(tmp_path):
    package = Path(dynagraph.__file__).parent
    shutil.copytree(package, tmp_path / "dynagraph", ignore=shutil.ignore_patterns("_core*", "__pycache__"))
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'dynagraph'\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}  # as a user's `python` in the clone
    r = subprocess.run([sys.executable, "-c", "import dynagraph; print(dynagraph.__file__)"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        # An editable install's import hook serves dynagraph ahead of the current directory: the
        # engine-less copy must not be what was imported.
        assert not r.stdout.strip().startswith(str(tmp_path)), r.stdout
        return
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: dynagraph was imported from its source folder"), r.stderr
    assert str(tmp_path / "dynagraph") in last
    assert "Start Python from another directory to use the installed dynagraph" in last or "Install it first" in last
    assert "ModuleNotFoundError" not in r.stderr  # the bare error is replaced, not chained


def test_the_message_names_the_installed_copy_when_there_is_one(tmp_path, monkeypatch):
    from dynagraph import _cuda_libs
    fake = tmp_path / "clone" / "dynagraph"
    fake.mkdir(parents=True)
    (tmp_path / "clone" / "pyproject.toml").write_text("")
    site = tmp_path / "site" / "dynagraph"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    monkeypatch.setattr(_cuda_libs, "__file__", str(fake / "_cuda_libs.py"))
    monkeypatch.setattr(sys, "path", [str(tmp_path / "clone"), str(tmp_path / "site")])
    msg = _cuda_libs.no_engine_message()
    assert f"source folder {fake}" in msg and f"installed dynagraph ({site})" in msg
    monkeypatch.setattr(sys, "path", [str(tmp_path / "clone")])
    assert "Install it first: `pip install .` in " + str(tmp_path / "clone") in _cuda_libs.no_engine_message()
    (tmp_path / "clone" / "pyproject.toml").unlink()
    assert "reinstall it" in _cuda_libs.no_engine_message()
