"""PRANC as a ucdbench plugin (light: the code is in :mod:`ucdbench_plugins.methods.pranc.method`)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("pranc", "ucdbench_plugins.methods.pranc.method:PRANC",
             summary="PRANC: the network as a linear combination of seeded random networks (ICCV 2023); MCNC/NOLA baseline")
