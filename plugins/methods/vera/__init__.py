"""VeRA through PEFT as a ucdbench plugin (light: the code is in :mod:`ucdbench_plugins.methods.vera.method`)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("vera", "ucdbench_plugins.methods.vera.method:VeRA",
             summary="VeRA (HF PEFT): frozen seeded random A, B shared by all layers, trained scaling vectors")
