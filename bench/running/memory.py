"""Refusing, before any run starts, a run whose settings need more memory than its device has.

Methods and evaluations declare what their settings make them hold at once on the device
(:meth:`ucdbench.contracts.interfaces.Method.memory_needs`, :class:`ucdbench.contracts.interfaces.MemoryNeed`:
random bases, distance blocks, batches); the hardware says what its device can take now
(:meth:`ucdbench.contracts.interfaces.Hardware.memory_bytes`). A plugin whose needs add up to more is a
usage error naming the estimate, the device's memory and the setting to lower, rather than a run
that dies of an out-of-memory error hours in. Fit and evaluations run one after another, so each
plugin is checked on its own. Where either side is unknown nothing is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ucdbench.contracts.interfaces import Hardware, MemoryNeed, UcdbenchError

if TYPE_CHECKING:
    from ucdbench.running.runner import ResolvedRun

GIB = 2**30


def _gib(count: int) -> str:
    return f"{count / GIB:.3g} GiB"


def plugin_needs(run: ResolvedRun) -> list[tuple[str, str, list[MemoryNeed]]]:
    """(who, the ``--set`` prefix of its settings, its needs) for the run's method and each
    evaluation, asked on the run's task constructed with its configuration, not prepared."""
    spec = run.spec
    task = run.task.load()(spec.preset, spec.seed, run.task_config)
    needs = [(f"method {spec.method!r}", "", list(run.method.load()().memory_needs(task, run.method_config)))]
    for entry in run.evaluations:
        evaluation = entry.load()()
        needs.append((f"evaluation {entry.name!r}", f"eval.{entry.name}.",
                      list(evaluation.memory_needs(task, run.eval_configs[entry.name]))))
    return needs


def memory_refusal(run: ResolvedRun, hardware: Hardware, device: str) -> str | None:
    """Why ``run`` cannot fit on ``device`` (the first plugin whose needs exceed its memory), or None."""
    available = hardware.memory_bytes(device)
    if available is None:
        return None
    for who, prefix, needs in plugin_needs(run):
        total = sum(need.bytes for need in needs)
        if total > available:
            parts = "; ".join(f"{need.what}: {_gib(need.bytes)} (--set {prefix}{need.setting})" for need in needs)
            return (f"run {run.key[:10]} ({run.spec.method} on {run.spec.task}, preset {run.spec.preset}): {who} "
                    f"needs ~{_gib(total)} at once on {device}, which has {_gib(available)} available — {parts}; "
                    "lower or turn off the setting named, or run on a device with more memory")
    return None


def refuse_what_cannot_fit(runs: Sequence[ResolvedRun], hardware: Hardware, device: str) -> None:
    """:class:`UcdbenchError` for the first of ``runs`` that cannot fit on ``device``."""
    for run in runs:
        reason = memory_refusal(run, hardware, device)
        if reason:
            raise UcdbenchError(reason)
