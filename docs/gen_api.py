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


_OVERLOAD = re.compile(r"^\d+\. (\w+)(\(.*\).*)$")


def _first_sentence(lines) -> str:
    """The docstring's first paragraph, as one line."""
    text = []
    for ln in lines:
        if not ln:
            if text:
                break
            continue
        text.append(ln)
    return " ".join(text)


def _pybind_doc(obj, name: str):
    """(signatures, description lines) of a pybind11 docstring, or None for another kind.

    pybind11 writes ``name(sig) -> ret`` then the docstring, or for overloads
    ``name(*args, **kwargs)``, "Overloaded function." and ``N. name(sig)`` per
    overload, each followed by its own docstring."""
    doc = getattr(obj, "__doc__", None) or ""
    lines = [ln.strip() for ln in doc.strip().splitlines()]
    own = getattr(obj, "__name__", name)
    if not lines or not re.match(rf"^{re.escape(own)}\(.*\)", lines[0]):
        return None
    if len(lines) > 1 and lines[1] == "Overloaded function.":
        sigs, texts = [], []
        for ln in lines[2:]:
            m = _OVERLOAD.match(ln)
            if m and m.group(1) == own:
                sigs.append(m.group(2))
            elif ln:
                texts.append(ln)
        return sigs, texts
    return [re.sub(r"^\w+", "", lines[0])], lines[1:]


def _stub_signatures() -> dict:
    """Signatures of _core's plain CPython functions (the fast ops), from _core.pyi."""
    stub = Path(dynagraph.__file__).with_name("_core.pyi")
    out: dict = {}
    if stub.exists():
        for m in re.finditer(r"^def (\w+)(\(.*?\)(?: -> [^:]+)?):", stub.read_text(), flags=re.M):
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


_STUBS = _stub_signatures()


# Constants whose value depends on how the engine was built: described, not printed,
# so api.md is the same whichever build generates (or checks) it.
_BUILD_CONSTANTS = {
    "HAVE_CUDA": "`bool` constant: whether this build has the CUDA backend (`DYNAGRAPH_BACKEND=cuda`)",
}


def describe(name: str, obj) -> tuple:
    """(signatures, one-line description)."""
    own = getattr(obj, "__name__", name)
    if not callable(obj):
        if name in _BUILD_CONSTANTS:
            return [], _BUILD_CONSTANTS[name]
        if isinstance(obj, (bool, int, float)):
            return [], f"`{type(obj).__name__}` constant (`{obj!r}` in this build)"
        if isinstance(obj, str):
            return [], "message string"
        return [], _first_sentence([ln.strip() for ln in (inspect.getdoc(obj) or "").splitlines()])
    parsed = None if isinstance(obj, type) else _pybind_doc(obj, name)
    if parsed is not None:
        signatures, lines = parsed
        if not any("->" in sig for sig in signatures) and _STUBS.get(own):
            signatures = _STUBS[own]  # the fast ops' docstrings name their arguments only; the stub types them
    else:
        signatures, lines = [], [ln.strip() for ln in (inspect.getdoc(obj) or "").splitlines()]
        if isinstance(obj, type):
            init = obj.__init__
            if init is not object.__init__ and _pybind_doc(init, "__init__") is None:
                try:
                    signatures = [str(inspect.signature(init)).replace("(self, ", "(").replace("(self)", "()")]
                except (TypeError, ValueError):
                    pass
                if any("*args, **kwargs" in sig for sig in signatures):  # a compiled class: not made by users
                    signatures = []
        elif inspect.isbuiltin(obj) and getattr(obj, "__text_signature__", None) in ("(x)", "(x, y)") \
                and _STUBS.get(own):
            signatures = _STUBS[own]  # a fast op's text signature names its arguments only; the stub types them
        else:
            try:
                signatures = [str(inspect.signature(obj))]
            except (TypeError, ValueError):
                signatures = _STUBS.get(own, [])
    text = _first_sentence(lines)
    if own != name:
        text = f"Alias of `{own}`." + (f" {text}" if text else "")
    return signatures, text


def _tidy(sig: str) -> str:
    sig = sig.replace("typing.SupportsInt | typing.SupportsIndex", "int")
    sig = re.sub(r"(: |-> )'([^']+)'", r"\1\2", sig)  # quoted annotations (not quoted defaults such as '')
    sig = sig.replace("typing.SupportsFloat | typing.SupportsIndex", "float").replace("typing.", "")
    sig = sig.replace("collections.abc.", "").replace("dynagraph._core.", "").replace("numpy.typing.", "")
    sig = sig.replace("|", "\\|")
    return f"`{sig}`"


def collect() -> dict:
    """{area: [(name, signatures, description)]} for every name of dynagraph.__all__."""
    groups: dict = {}
    for name in dynagraph.__all__:
        obj = getattr(dynagraph, name)
        groups.setdefault(area_of(name, obj), []).append((name, *describe(name, obj)))
    return groups


def missing() -> list:
    """Rows a reader could not use: no description, or a function without a signature
    (or with pybind11's uninformative ``(*args, **kwargs)``)."""
    out = []
    for rows in collect().values():
        for name, sigs, text in rows:
            obj = getattr(dynagraph, name)
            if not text.strip() or (text.startswith("Alias of") and text.endswith("`.")):
                out.append(f"{name}: no description")
            if callable(obj) and not isinstance(obj, type) and not sigs:
                out.append(f"{name}: no signature")
            if any("*args, **kwargs" in s for s in sigs):
                out.append(f"{name}: signature is (*args, **kwargs)")
    return out


def generate() -> str:
    groups = collect()
    out = ["# dynagraph API", "",
           "Generated from `dynagraph.__all__` and the docstrings by `python docs/gen_api.py`; "
           "do not edit by hand. Concepts: [index.md](index.md).", ""]
    for area in AREA_ORDER + sorted(set(groups) - set(AREA_ORDER)):
        if area not in groups:
            continue
        out += [f"## {area}", "", "| name | signature | description |", "| --- | --- | --- |"]
        for name, sigs, text in sorted(groups[area], key=lambda t: t[0].lower()):
            out.append(f"| `{name}` | {'<br>'.join(_tidy(s) for s in sigs)} | {text.replace('|', '/')} |")
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
