"""Registers the int8-ptq method. `ucdbench list` imports this module: no torch here."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("int8-ptq", "ucdbench_int8_ptq.method:Int8PostTrainingQuantisation",
             summary="int8 post-training quantisation (symmetric, per output channel) of a trained fp32 run")
