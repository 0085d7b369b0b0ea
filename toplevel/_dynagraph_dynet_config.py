"""Provides the top-level module ``dynet_config`` where DyNet's is not installed.

Loaded at interpreter start by ``dynagraph-dynet-config.pth``. DyNet programs
``import dynet_config`` before ``import dynet``; DyNet's wheel ships that file.
Shipping a second file of that name would clobber DyNet's (or be removed by
DyNet's uninstall), so dynagraph ships none: this finder sits last on
``sys.meta_path`` and is asked only when no ``dynet_config`` was found on
``sys.path``, so an installed DyNet always wins and uninstalling either
library, in either order, leaves the other working. It imports nothing heavy
(``dynagraph`` itself is located, not imported).
"""
import importlib.util
import os
import sys


class DynetConfigFinder:
    """Finds ``dynet_config`` in dynagraph's package folder (``_dynet_config.py``)."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "dynet_config" or path is not None:
            return None
        try:
            package = importlib.util.find_spec("dynagraph")
        except (ImportError, ValueError):
            return None
        if package is None or not package.submodule_search_locations:
            return None
        for folder in package.submodule_search_locations:
            source = os.path.join(folder, "_dynet_config.py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location("dynet_config", source)
        return None


def install():
    if not any(getattr(f, "__name__", "") == DynetConfigFinder.__name__ for f in sys.meta_path):
        sys.meta_path.append(DynetConfigFinder)


install()
