"""What ``ucdbench run`` uses when a run names no task or hardware: what plugins declare.

A task or hardware class declares itself the default with ``is_default = True``
(``ucdbench.api.Task.is_default``, ``ucdbench.api.Hardware.is_default``); the harness names
none. Where several declare it, the first registered wins, as with names (built-ins first),
so installing a plugin cannot change what a plain ``ucdbench run`` does.
"""

from __future__ import annotations

from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.discovery.registry import Registry

FLAGS = {"task": "--task", "hardware": "--hardware"}
"""The kinds that have a default, and the flag that names one instead."""


def declared_default(registry: Registry, kind: str) -> str:
    """The name of the first registered ``kind`` whose class declares ``is_default``. Classes
    are imported in registration order up to it; one that fails to load is passed over (its
    own runs report why)."""
    for name, entry in registry.entries[kind].items():
        try:
            cls = entry.load()
        except UcdbenchError:
            continue
        if getattr(cls, "is_default", False) is True:
            return name
    raise UcdbenchError(f"no registered {kind} declares itself the default (`is_default = True` on the class); give "
                        f"{FLAGS[kind]} NAME (see `ucdbench list`)")
