"""Registers the cpu-pinned hardware. `ucdbench list` imports this module: no torch here."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_hardware(register):
    register("cpu-pinned", "ucdbench_cpu_pinned.hardware:PinnedCPU",
             summary="host CPU, every thread of the run pinned to one core per torch thread while timing")
