"""MCNC as a ucdbench plugin (light: the code is in :mod:`ucdbench_plugins.methods.mcnc.method`)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("mcnc", "ucdbench_plugins.methods.mcnc.method:MCNC",
             summary="MCNC: chunks of weights = amplitude × a frozen sine generator's point on a sphere (ICLR 2025)")
