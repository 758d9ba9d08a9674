"""Registers the weight-norm evaluation. `ucdbench list` imports this module: no torch here."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_evaluations(register):
    register("weight-norm", "ucdbench_weight_norm.evaluation:WeightNorm",
             summary="L2 norm of the scored model's parameters, and its largest tensors")
