"""A third-party plugin as a user would write one: a method, and a hardware that spreads runs
over two CPU "devices" (so tests exercise the one-worker-per-device path without GPUs).

Light at import, like every plugin: the method's module loads only when a run needs it.
"""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("linear-probe", "ucdbench_example_plugin.methods:LinearProbe",
             summary="trains only the head of the pretrained base")
    register("diverge", "ucdbench_example_plugin.methods:Diverge",
             summary="a method whose loss turns NaN (tests failure recording)")
    register("sleepy", "ucdbench_example_plugin.methods:Sleepy",
             summary="a method that takes its time (tests killed runs)")
    register("crash", "ucdbench_example_plugin.methods:Crash",
             summary="a method whose process is killed, as the OOM killer would (tests dead workers)")


@hookimpl
def ucdbench_register_hardware(register):
    register("cpu-pair", "ucdbench_example_plugin.methods:CPUPair",
             summary="two CPU workers, to exercise one worker per device")
