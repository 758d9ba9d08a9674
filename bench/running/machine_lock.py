"""One machine's timed phases never overlap other ucdbench work on it, under every executor.

A timing measured while another worker trains on the same machine times the contention, not
the code: the local executor's workers (one per GPU), Ray tasks on one node and Slurm jobs
sharing a node all compete for the same cores and memory bandwidth. So every phase of work —
preparing a task and fitting, each measurement — holds a machine-wide lock: *shared* for work
(any number at once), *exclusive* for a measurement whose figures are timings (alone on the
machine). A file lock (``flock``) in a folder every process on the machine sees
(``$UCDBENCH_LOCK_DIR``, default the system's temporary folder) does this for processes of any
executor, or of none, without asking a scheduler for a resource it would not enforce on
processes it does not run (a Ray resource binds only Ray tasks).

Writers are not starved: a timed phase first takes a turnstile, which new work must pass
through, so once it waits, no new work starts until it has run. Phases never nest (a run's
references are fitted before its own fit takes the lock), so no process waits on itself.
A phase that has to wait says so on stderr. Two invocations on one machine therefore take turns
for their timings: that is the point, and the price (run them on separate machines to overlap).
Where ``fcntl`` does not exist (Windows), the lock is a no-op.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def lock_dir() -> Path:
    return Path(os.environ.get("UCDBENCH_LOCK_DIR") or tempfile.gettempdir())


@contextmanager
def _flock(name: str, mode: int, waiting: str = "") -> Iterator[None]:
    """Hold the lock file ``name`` in ``mode``; when it is not free at once, say ``waiting`` on
    stderr first (a run that seems stuck is waiting for another on this machine)."""
    path = lock_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(f"ucdbench: {waiting} (machine lock {path})", file=sys.stderr, flush=True)
            fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_MACHINE = "ucdbench-machine.lock"
_TURNSTILE = "ucdbench-machine.turnstile"


@contextmanager
def work_phase() -> Iterator[None]:
    """Held (shared) while this process fits or measures anything but timings."""
    if fcntl is None:
        yield
        return
    with _flock(_TURNSTILE, fcntl.LOCK_EX):
        pass  # wait while a timed phase is queued
    with _flock(_MACHINE, fcntl.LOCK_SH):
        yield


@contextmanager
def timed_phase() -> Iterator[None]:
    """Held (exclusive) while this process measures timings: no other ucdbench work runs on
    the machine meanwhile."""
    if fcntl is None:
        yield
        return
    with _flock(_TURNSTILE, fcntl.LOCK_EX, "waiting for another timing on this machine to end"), \
            _flock(_MACHINE, fcntl.LOCK_EX, "waiting for other ucdbench work on this machine (a fit, a measurement) "
                                            "to end before timing, so the timing measures this run alone"):
        yield
