"""Computation devices, as DyNet names them ("CPU", "GPU:0", ...).

This build computes on the CPU only: ``available_devices()`` is ``["CPU"]``,
``HAVE_CUDA`` is False, and asking for a GPU raises ``RuntimeError`` with the
same wording DyNet uses. Every Parameters and Expression lives on the CPU.
"""
from __future__ import annotations

from . import _core
from ._core import Expression

__all__ = ["HAVE_CUDA", "ERRMSG", "DeviceInfo", "available_devices", "get_device_info", "to_device"]

HAVE_CUDA = bool(getattr(_core, "HAVE_CUDA", False))  # a CUDA build of _core defines it
ERRMSG = ("dynagraph was built without GPU support: this release has only the CPU backend "
          "(the CUDA backend is not written yet).")

_CPU_NAMES = ("", "CPU", "cpu")


class DeviceInfo:
    """One computation device: ``id`` (index among devices of its type), ``name`` and ``type``."""

    __slots__ = ("id", "name", "type")

    def __init__(self, id: int = 0, name: str = "CPU", type: str = "CPU"):  # noqa: A002 (DyNet's names)
        self.id, self.name, self.type = id, name, type

    def __repr__(self) -> str:
        return f"DeviceInfo(id={self.id}, name={self.name!r}, type={self.type!r})"


def available_devices() -> list:
    """Names of the devices this build can compute on (``["CPU"]``)."""
    return ["CPU"]


def _check_device(name) -> None:
    if isinstance(name, bytes):
        name = name.decode()
    if name not in _CPU_NAMES:
        raise RuntimeError(f"Invalid device name: {name}" + ("" if HAVE_CUDA else f" ({ERRMSG})"))


def get_device_info(name) -> DeviceInfo:
    """The :class:`DeviceInfo` of the device called ``name`` ("CPU")."""
    _check_device(name)
    return DeviceInfo(0, "CPU", "CPU")


def to_device(e: Expression, device_str) -> Expression:
    """``e`` on device ``device_str``. Everything is on the CPU, so this is ``e`` itself."""
    _check_device(device_str)
    return e
