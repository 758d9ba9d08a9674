"""The standard evaluations, implemented once in the harness and registered as one plugin.

They run in the order registered here; each may read the results of those before it.
"""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_evaluations(register):
    register("compression", "ucdbench.evaluations.compression:Compression",
             summary="artifact bytes on disk, stored scalars, ratios to the fp32 base model")
    register("accuracy", "ucdbench.evaluations.accuracy:Accuracy",
             summary="the task's metrics on its eval split")
    register("latency", "ucdbench.evaluations.latency:Latency",
             summary="warm-up, then p50/p90/p99 per batch and samples/s, synchronised; energy where metered")
    register("flops", "ucdbench.evaluations.flops:Flops",
             summary="per-sample forward FLOPs (FlopCounterMode, real shapes) against the dense base model")
    register("reconstruction", "ucdbench.evaluations.reconstruction:Reconstruction",
             summary="artifact file -> dense weights on the device, median time; equality with the scored weights")
