"""The op code's boundaries, read from the sources: ops see an OpContext, never
the ComputationGraph, and csrc/ops/op_table.def is the one list of op facts."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPS = ROOT / "csrc" / "ops"

if not OPS.is_dir():  # an installed wheel without its sources
    pytest.skip("needs the source checkout (csrc/ops)", allow_module_level=True)


def _includes(path: Path) -> list:
    return re.findall(r'^\s*#\s*include\s+"([^"]+)"', path.read_text(), flags=re.M)


def test_ops_do_not_include_the_graph():
    # Nothing from csrc/graph/, transitively: every project header an op file reaches.
    offenders = []
    for src in sorted(OPS.glob("*")):
        if src.suffix not in (".cc", ".h"):
            continue
        seen, todo = set(), [src]
        while todo:
            f = todo.pop()
            for inc in _includes(f):
                if inc.startswith("graph/"):
                    offenders.append(f"{src.name} (via {f.relative_to(ROOT)})")
                target = ROOT / "csrc" / inc
                if target.exists() and target not in seen:
                    seen.add(target)
                    todo.append(target)
    assert offenders == [], "csrc/ops/ must see only OpContext, not the graph: " + ", ".join(offenders)


def test_ops_do_not_name_the_graph_type():
    named = [p.name for p in sorted(OPS.glob("*.*"))
             if p.suffix in (".cc", ".h") and re.search(r"\bComputationGraph\s*[&*]", p.read_text())]
    assert named == []
