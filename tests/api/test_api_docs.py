"""docs/api.md gives every public name a signature and a description, taken from
the bindings' docstrings; dynagraph/_core.pyi matches the built engine."""
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _gen_api():
    spec = importlib.util.spec_from_file_location("gen_api", ROOT / "docs" / "gen_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_has_a_signature_and_a_description():
    assert _gen_api().missing() == []


def test_api_md_has_no_empty_or_overloaded_placeholder_rows():
    text = (ROOT / "docs" / "api.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| `")]
    assert len(rows) > 200
    assert not [ln for ln in rows if ln.rstrip().endswith("|  |") or ln.rstrip().endswith("| |")]
    assert "Overloaded function" not in text and "*args, **kwargs" not in text


def test_overloads_list_each_signature():
    rows = {name: (sigs, text) for area in _gen_api().collect().values() for name, sigs, text in area}
    sigs, text = rows["pickneglogsoftmax"]
    assert len(sigs) == 2 and any("Sequence" in s for s in sigs) and text.startswith("-log(softmax(x)[v])")
    assert rows["tanh"] == (["(x: Expression) -> Expression"], "Element-wise hyperbolic tangent.")


def test_core_stub_is_current():
    import pybind11_stubgen  # noqa: F401  (the test extra installs it)
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_stubs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + "\nRegenerate it: python tools/gen_stubs.py"
