"""The ``cpu`` hardware: wall-clock timing, process peak RSS, energy from RAPL where readable.

Light at import (torch is imported inside methods), so ``ucdbench list`` stays fast.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable, Mapping
from typing import Any

from ucdbench import hookimpl
from ucdbench.api import EnergyMeter, Hardware
from ucdbench_plugins.shared.rapl import POWERCAP, RaplMeter, describe_energy, readable_packages


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _available_memory_bytes() -> int | None:
    """RAM a new allocation can take now: Linux's ``MemAvailable`` (free plus reclaimable cache),
    else the free pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


class CPU(Hardware):
    name = "cpu"
    is_default = True  # every machine has one
    powercap = POWERCAP
    """Where the kernel's powercap counters are (a test points it at a fake tree)."""

    def devices(self) -> list[str]:
        return ["cpu"]

    def describe(self, device: str) -> dict[str, Any]:
        import torch

        return {
            "kind": self.name,
            "device": device,
            "name": _cpu_model(),
            "machine": platform.machine(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "memory_bytes": _total_memory_bytes(),
            "energy": describe_energy(self.powercap),
        }

    def comparison_class(self, description: Mapping[str, Any]) -> dict[str, Any]:
        """The CPU model and torch's thread count: timings on the same model with the same
        threads compare, whatever the machine's memory or core count."""
        return {"kind": self.name, "name": description.get("name"), "threads": description.get("threads")}

    def synchronize(self, device) -> None:
        """CPU kernels return when done: nothing to wait for."""

    def time_call(self, fn: Callable[[], Any], device) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def work_seconds(self) -> float | None:
        """The process's CPU time (every thread's, torch's intra-op threads included)."""
        return time.process_time()

    def peak_memory_bytes(self, device) -> int | None:
        """The process's peak resident set size (Linux reports KiB); it cannot be reset."""
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def memory_bytes(self, device: str) -> int | None:
        return _available_memory_bytes()

    def energy_meter(self, device) -> EnergyMeter | None:
        """The packages' RAPL counters where this process can read them, else None (the record's
        hardware ``energy`` says which)."""
        packages = readable_packages(self.powercap)
        return RaplMeter(packages) if packages else None


@hookimpl
def ucdbench_register_hardware(register):
    register("cpu", CPU, summary="host CPU: wall-clock timing and process CPU time, torch threads, peak RSS")
