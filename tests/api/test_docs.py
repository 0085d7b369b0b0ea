"""docs/api.md is generated from the package: it must list the current public API."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_api_md_is_up_to_date():
    import os

    import dynagraph
    # Generate from the dynagraph under test (installed or in-tree).
    env = dict(os.environ, PYTHONPATH=str(Path(dynagraph.__file__).resolve().parents[1]))
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_api.py"), "--check"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr + "\nRegenerate it: python docs/gen_api.py"


def test_every_public_name_is_documented_in_api_md():
    import dynagraph
    text = (ROOT / "docs" / "api.md").read_text()
    missing = [name for name in dynagraph.__all__ if f"| `{name}` |" not in text]
    assert missing == []
