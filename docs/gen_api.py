"""Writes docs/api.md: every name of ``dynagraph.__all__``, grouped by area, with
its signature and the first line of its docstring.

    python docs/gen_api.py            # rewrite docs/api.md
    python docs/gen_api.py --check    # exit 1 if docs/api.md is out of date
"""
from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

try:  # an installed dynagraph (or one on PYTHONPATH) ...
    import dynagraph
except ImportError:  # ... else the checkout's, built in place
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import dynagraph  # noqa: E402

OUT = Path(__file__).with_name("api.md")

# Engine functions (dynagraph._core) are grouped by their op's family, as
# csrc/ops/op_table.def lists them; anything else from _core lands in "Other operations".
FAMILY_TITLES = [family["title"] for family in dynagraph._core.op_families()]
_FAMILY_TITLE = {family["name"]: family["title"] for family in dynagraph._core.op_families()}
ENGINE_AREAS = {name: _FAMILY_TITLE[row["family"]] for row in dynagraph._core.op_table() for name in row["functions"]}
MODULE_AREAS = [  # (module prefix, area), first match wins
    ("dynagraph.expressions", "Composite operations"),
    ("dynagraph.inputs", "Inputs and constants"),
    ("dynagraph.params", "Parameters and initializers"),
    ("dynagraph.trainers", "Trainers"),
    ("dynagraph.softmax_builders", "Output layers"),
    ("dynagraph.builders", "Builders"),
    ("dynagraph.serialize", "Saving and loading"),
    ("dynagraph.values", "Values"),
    ("dynagraph.devices", "Devices"),
    ("dynagraph.graph_tools", "Looking at the graph"),
    ("dynagraph._config", "Configuration"),
    ("dynagraph._core", "Other operations"),
    ("dynagraph", "Graph"),
]
AREA_ORDER = ["Graph", "Configuration", *FAMILY_TITLES, "Other operations",
              "Composite operations", "Values", "Parameters and initializers", "Trainers", "Builders",
              "Output layers", "Saving and loading", "Looking at the graph", "Devices"]
OVERRIDES = {"Saving and loading": {"load_generator"},
             "Graph": {"Expression", "cg_version", "cg_checkpoint", "cg_revert"},
             "Parameters and initializers": {"Parameters", "LookupParameters"},
             "Inputs and constants": {"zeroes", "parameter", "const_parameter"}}


def area_of(name: str, obj) -> str:
    if name in ENGINE_AREAS:
        return ENGINE_AREAS[name]
    for area, names in OVERRIDES.items():
        if name in names:
            return area
    module = getattr(obj, "__module__", None) or "dynagraph"
    if not isinstance(obj, (type,)) and not callable(obj):
        module = "dynagraph.devices" if name in ("HAVE_CUDA", "ERRMSG") else "dynagraph._config"
    for prefix, area in MODULE_AREAS:
        if module == prefix or module.startswith(prefix + "."):
            return area
    return "Graph"


def describe(name: str, obj) -> tuple:
    """(signature, one-line description)."""
    doc = inspect.getdoc(obj) or ""
    lines = [ln.strip() for ln in doc.splitlines()]
    signature = ""
    if lines and re.match(rf"^{re.escape(getattr(obj, '__name__', name))}\(.*\)", lines[0]):
        signature = re.sub(r"^\w+", "", lines[0])  # pybind11: first line is the signature
        lines = lines[1:]
    elif callable(obj) and not isinstance(obj, type):
        try:
            signature = str(inspect.signature(obj))
        except (TypeError, ValueError):
            pass
    elif isinstance(obj, type) and obj.__init__ is not object.__init__:
        try:
            signature = str(inspect.signature(obj.__init__)).replace("(self, ", "(").replace("(self)", "()")
        except (TypeError, ValueError):
            pass
        if "*args, **kwargs" in signature:  # a compiled class: not made by users
            signature = ""
    if not callable(obj):
        if isinstance(obj, (bool, int, float)):
            return "", f"`{type(obj).__name__}` constant (`{obj!r}` in this build)"
        return "", "message string" if isinstance(obj, str) else (inspect.getdoc(type(obj)) or "").split("\n")[0]
    text = next((ln for ln in lines if ln), "")
    own = getattr(obj, "__name__", name)
    if own != name and not isinstance(obj, type) or (isinstance(obj, type) and own != name):
        text = f"Alias of `{own}`." + (f" {text}" if text else "")
    return signature, text


def generate() -> str:
    groups: dict = {}
    for name in dynagraph.__all__:
        obj = getattr(dynagraph, name)
        groups.setdefault(area_of(name, obj), []).append((name, *describe(name, obj)))
    out = ["# dynagraph API", "",
           "Generated from `dynagraph.__all__` and the docstrings by `python docs/gen_api.py`; "
           "do not edit by hand. Concepts: [index.md](index.md).", ""]
    for area in AREA_ORDER + sorted(set(groups) - set(AREA_ORDER)):
        if area not in groups:
            continue
        out += [f"## {area}", "", "| name | signature | description |", "| --- | --- | --- |"]
        for name, sig, text in sorted(groups[area], key=lambda t: t[0].lower()):
            sig = sig.replace("typing.SupportsInt | typing.SupportsIndex", "int").replace("'", "")
            sig = sig.replace("typing.SupportsFloat | typing.SupportsIndex", "float").replace("typing.", "")
            sig = sig.replace("collections.abc.", "").replace("dynagraph._core.", "").replace("|", "\\|")
            out.append(f"| `{name}` | `{sig}` | {text.replace('|', '/')} |" if sig else
                       f"| `{name}` | | {text.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if docs/api.md differs from what would be written")
    args = ap.parse_args()
    text = generate()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(dynagraph.__all__)} names)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
