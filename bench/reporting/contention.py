"""Whether a timing had its cores to itself: the CPU share of the timed calls.

The machine lock (:mod:`ucdbench.running.machine_lock`) keeps other ucdbench work off a machine
while a run times, but not other processes. What a page can still check is whether one took the
timed process's cores: a timing evaluation keeps each call's wall time (``samples_ms``) and, where
the hardware has a work clock, the process CPU time it spent on it (``work_samples_ms``). On a
quiet machine a process with ``t`` threads runs for about ``t`` CPU seconds per wall second; when
another process shares its cores it waits, and the ratio falls (a run that timed 38 ms of wall
clock for 18 ms of CPU had half a core). So a table that shows a timing says, from the records,
how much of its cores each timed run had, and names the rows whose timings were taken below
:data:`QUIET_SHARE`: those time the contention as well as the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ucdbench.reporting.compare import RAW_SAMPLES, WORK_SAMPLES

QUIET_SHARE = 0.95
"""The least CPU share (process CPU time ÷ (wall time × threads)) of a timing taken with its cores
to itself; below it, another process held them for more than one call in twenty."""


def cpu_share(results: Mapping[str, Any], threads: int) -> float | None:
    """Process CPU seconds over wall seconds × ``threads``, summed over an evaluation's timed calls;
    None where the evaluation kept no work clock (a GPU's events, or records kept without samples)."""
    wall, work = results.get(RAW_SAMPLES), results.get(WORK_SAMPLES)
    if not wall or not work or len(wall) != len(work) or sum(wall) <= 0:
        return None
    return sum(work) / (sum(wall) * max(threads, 1))


def _threads(record: Mapping[str, Any], results: Mapping[str, Any]) -> int:
    return int(results.get("threads") or (record.get("hardware") or {}).get("threads") or 1)


def _percent(share: float) -> str:
    """A share in percent to one decimal, at most 100% (CPU clocks tick coarser than wall clocks,
    so a quiet call can read a little over its wall time)."""
    return f"{100 * min(share, 1.0):.1f}%"


def timing_conditions(rows: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], evaluations: Iterable[str]) -> str:
    """The sentence a table of timings carries: over ``rows`` (each a label and its runs' records),
    the CPU share of every run's timed calls in ``evaluations``, and which rows fell below
    :data:`QUIET_SHARE`; "" where no run timed any of them."""
    evaluations = tuple(evaluations)
    shares: list[float] = []
    unknown = 0
    contended: dict[str, float] = {}
    for label, runs in rows:
        for record in runs:
            for evaluation in evaluations:
                results = (record.get("evaluations") or {}).get(evaluation)
                if not results:
                    continue
                share = cpu_share(results, _threads(record, results))
                if share is None:
                    unknown += 1
                    continue
                shares.append(share)
                if share < QUIET_SHARE:
                    contended[label] = min(share, contended.get(label, share))
    if not shares and not unknown:
        return ""
    rule = ("CPU share of the timed calls (process CPU time ÷ (wall time × threads), from each run's per-call "
            f"samples; below {QUIET_SHARE:.0%}, another process held the timed cores)")
    if not shares:
        return f"{rule}: not known, the records keep no work clock for these timings."
    span = {_percent(min(shares)): None, _percent(max(shares)): None}
    told = f"{rule}: {'–'.join(span)} over {len(shares)} timed run{'s' * (len(shares) > 1)}"
    told += f" ({unknown} without a work clock)" if unknown else ""
    if not contended:
        return told + ": every timing here had its cores to itself."
    named = "; ".join(f"{label} ({_percent(share)})" for label, share in contended.items())
    return (told + f". Timed on shared cores, so these rows' timings measure contention as well as the code: "
            f"{named}.")
