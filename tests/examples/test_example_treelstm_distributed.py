"""examples/treelstm/train_distributed.py as a user runs it: the README's command from the
clone root, the same from another folder, and `ray job submit` to a real local head
(docs/distributed.md's cluster route). Tiny settings: each run trains one short epoch."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = "examples/treelstm/train_distributed.py"
TINY = ["--workers", "2", "--batch-size", "16", "--lr", "0.004", "--train-size", "96", "--dev-size", "16",
        "--test-size", "16", "--epochs", "1", "--max-depth", "2", "--scheme", "ps"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # An activated virtual environment: `python` and `ray` are this interpreter's.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def _check_run(out, save: Path):
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert "test accuracy" in out.stdout, text[-4000:]
    assert f"model saved to {save}" in out.stdout, text[-4000:]
    params = np.load(save / "params.npz")
    assert len(params.files) > 0


def test_readme_command_from_the_clone_root(tmp_path):
    """Ray puts the driver's folder first on its workers' sys.path; from the clone root that
    folder holds the source dynagraph/ (no compiled engine), which must not be imported."""
    save = tmp_path / "final"
    out = subprocess.run([sys.executable, SCRIPT, *TINY, "--num-cpus", "2", "--save", str(save),
                          "--checkpoint-dir", str(tmp_path / "ckpt")],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    _check_run(out, save)


def test_from_a_folder_holding_a_stray_dynagraph_package(tmp_path):
    """From anywhere: a folder whose own dynagraph/ cannot be imported does not break the workers,
    while a module of the user's in that folder is still importable by them."""
    decoy = tmp_path / "dynagraph"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the stray dynagraph folder was imported')\n")
    save = tmp_path / "out" / "final"
    out = subprocess.run([sys.executable, str(REPO / SCRIPT), *TINY, "--num-cpus", "2", "--save", "out/final",
                          "--checkpoint-dir", "out/ckpt"],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert "stray dynagraph folder" not in out.stdout + out.stderr
    _check_run(out, save)


# ---- `ray job submit` to a head started here


def _free_ports(n: int) -> list:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _processes_mentioning(text: str) -> list:
    """Pids whose command line contains ``text`` (the head's temporary folder: every process
    `ray start` launched names it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(entry))
    return pids


def _stop_head(temp_dir: str) -> None:
    """Stops every process of the head started with ``temp_dir`` (and only those): SIGTERM,
    then SIGKILL for what is left after 15 s. (`ray stop` would stop every Ray on the machine.)"""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        for pid in _processes_mentioning(temp_dir):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while _processes_mentioning(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.5)


def _wait_for_dashboard(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/version", timeout=2):
                return
        except urllib.error.HTTPError:   # it answers (401 without the token): it is up
            return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"no Ray dashboard at {url} after {timeout:.0f}s")


def test_ray_job_submit_to_a_local_head(tmp_path):
    """docs/distributed.md's cluster route with token authentication on: start a head, submit the
    example with the clone as working dir, find its output where --save said, stop the head."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    # A short folder: Ray's socket paths under it must stay below the 107-byte Unix limit.
    temp_dir = tempfile.mkdtemp(prefix="dg-ray-", dir="/tmp")
    gcs, dashboard, client, node, objects, agent_http, agent_grpc, runtime_env, metrics = _free_ports(9)
    # A slow machine (a loaded CI box) may take more than Ray's default 15 s to start the agents.
    env = _env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_agent_register_timeout_ms="120000")
    try:
        # `ray start` gives the node a fixed 30 s to register; on a machine whose cores are all
        # busy that can pass, so a head that failed to start is stopped and started once more.
        for attempt in range(2):
            start = subprocess.run(
                [ray_cli, "start", "--head", f"--port={gcs}", "--num-cpus=2", f"--temp-dir={temp_dir}",
                 "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                 f"--ray-client-server-port={client}", f"--node-manager-port={node}",
                 f"--object-manager-port={objects}", f"--dashboard-agent-listen-port={agent_http}",
                 f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
                 f"--metrics-export-port={metrics}", "--disable-usage-stats"],
                env=env, capture_output=True, text=True, timeout=180)
            if start.returncode == 0 or "timed out during startup" not in start.stderr:
                break
            _stop_head(temp_dir)
        assert start.returncode == 0, (start.stdout + start.stderr)[-4000:]
        url = f"http://127.0.0.1:{dashboard}"
        _wait_for_dashboard(url)
        save = tmp_path / "final"
        out = subprocess.run(
            [ray_cli, "job", "submit", "--address", url, "--working-dir", ".", "--",
             "python", SCRIPT, *TINY, "--save", str(save), "--checkpoint-dir", str(tmp_path / "ckpt")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert "succeeded" in out.stdout, (out.stdout + out.stderr)[-4000:]
        _check_run(out, save)
    finally:
        _stop_head(temp_dir)
        left = _processes_mentioning(temp_dir)
        subprocess.run(["rm", "-rf", temp_dir], check=False)
    assert not left, f"processes of the Ray head still running: {left}"
