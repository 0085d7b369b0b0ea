"""The op code's boundaries, read from the sources: ops see an OpContext, never
the ComputationGraph, and csrc/ops/op_table.def is the one list of op facts."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


# ---- op_table.def's columns, as _core.op_table() exposes them

def _table():
    from dynagraph import _core
    return _core.op_table(), _core.op_families()


def test_op_table_rows_are_well_formed():
    rows, families = _table()
    names = [f["name"] for f in families]
    assert len(names) == len(set(names)) and all(f["title"] for f in families)
    for row in rows:
        assert row["family"] in names, row
        assert row["batch"] in ("none", "plain", "per_element"), row
        assert "CPU" in row["devices"] and set(row["devices"]) <= {"CPU", "GPU"}, row
    functions = [f for row in rows for f in row["functions"]]
    assert len(functions) == len(set(functions)), "a function listed under two ops"


def test_the_package_exports_exactly_the_listed_engine_functions():
    import dynagraph as dy
    from dynagraph import _core
    rows, _ = _table()
    for row in rows:
        for name in row["functions"]:
            assert getattr(dy, name) is getattr(_core, name), name
            assert name in dy.__all__, name
    assert dy._ENGINE_FUNCTIONS == [f for row in rows for f in row["functions"]]


def test_the_autobatcher_follows_the_batch_column():
    import numpy as np
    import dynagraph as dy
    from dynagraph import _core
    rows, _ = _table()
    kind = {row["name"]: row["batch"] for row in rows}
    # Four independent nodes of one op: one group when the table says it batches, four when not.
    cases = [(op, lambda x, op=op: getattr(dy, op)(x)) for op in ("tanh", "exp", "square", "inverse", "logdet")]
    rng = np.random.default_rng(0)
    for op, build in cases:
        dy.renew_cg(autobatching=True)
        xs = [dy.inputTensor(np.eye(3, dtype=np.float32) + 0.1 * rng.random((3, 3), dtype=np.float32))
              for _ in range(4)]
        ys = [build(x) for x in xs]
        before = _core.autobatch_stats()["groups"]
        dy.forward(ys)
        groups = _core.autobatch_stats()["groups"] - before
        dy.renew_cg(autobatching=False)
        assert groups - 4 == (1 if kind[op] == "plain" else 4), op  # (the 4 inputs run alone)
