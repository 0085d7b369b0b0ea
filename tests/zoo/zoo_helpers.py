"""Loads a model-zoo program (examples/zoo/<name>/<name>.py) as a module for the zoo smoke tests."""
import importlib.util
import sys
from pathlib import Path

ZOO = Path(__file__).resolve().parents[2] / "examples" / "zoo"


def load_example(name: str):
    module_name = f"zoo_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    if str(ZOO) not in sys.path:
        sys.path.insert(0, str(ZOO))
    spec = importlib.util.spec_from_file_location(module_name, ZOO / name / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
