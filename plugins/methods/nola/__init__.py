"""NOLA as a ucdbench plugin (light: the code is in :mod:`ucdbench_plugins.methods.nola.method`)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("nola", "ucdbench_plugins.methods.nola.method:NOLA",
             summary="NOLA: LoRA's A and B as linear combinations of seeded random bases (ICLR 2024)")
