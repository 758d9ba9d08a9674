"""The host CPU with the run's threads pinned to fixed cores while it is timed.

On a shared or busy machine the scheduler moves threads between cores, and a timed call that
migrates pays for cold caches: latency samples spread. This back end pins every thread of the
process to the lowest-numbered cores it may use, one per torch thread (the run's
``--threads``, part of its key), before each timed call, so the timed work stays on the same
cores; the record says which. Linux only (``os.sched_setaffinity``).
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from typing import Any

from ucdbench.api import Hardware


def _threads_of_this_process() -> list[int]:
    """The ids of this process's threads (torch's intra-op pool included)."""
    return [int(tid) for tid in os.listdir("/proc/self/task")]


class PinnedCPU(Hardware):
    name = "cpu-pinned"

    def unavailable_reason(self) -> str | None:
        if not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"):
            return "pinning threads needs Linux (os.sched_setaffinity and /proc/self/task); use --hardware cpu"
        return None

    def devices(self) -> list[str]:
        return ["cpu"]  # one device: the runs of an invocation run one after another in this process

    def cores(self) -> list[int]:
        """The cores the run is pinned to: the first of those this process may use, one per torch thread."""
        import torch

        allowed = sorted(os.sched_getaffinity(0))
        return allowed[:max(1, min(torch.get_num_threads(), len(allowed)))]

    def describe(self, device: str) -> dict[str, Any]:
        import torch

        return {"kind": self.name, "device": device, "name": platform.processor() or platform.machine(),
                "machine": platform.machine(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
                "pinned_cores": self.cores()}

    def synchronize(self, device) -> None:
        """CPU kernels return when they are done: nothing to wait for."""

    def time_call(self, fn: Callable[[], Any], device) -> float:
        cores = set(self.cores())
        for tid in _threads_of_this_process():
            try:
                os.sched_setaffinity(tid, cores)
            except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
                pass
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def peak_memory_bytes(self, device) -> int | None:
        """The process's peak resident set size (Linux reports KiB); it cannot be reset."""
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
