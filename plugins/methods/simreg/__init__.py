"""``simreg``: distil frozen teachers' representations into a smaller student by regression
through a deep MLP head (SimReg, BMVC 2021)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("simreg", "ucdbench_plugins.methods.simreg.method:SimReg",
             summary="SimReg: a student regresses frozen teachers' features through a deep MLP head, dropped after")
