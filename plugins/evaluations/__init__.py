"""The standard evaluations, implemented once in the harness and registered as one plugin.

They run in the order registered here; each may read the results of those before it.
"""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_evaluations(register):
    register("compression", "ucdbench_plugins.evaluations.compression:Compression",
             summary="artifact bytes on disk, stored scalars, ratios to the fp32 base model")
    register("accuracy", "ucdbench_plugins.evaluations.accuracy:Accuracy",
             summary="the task's metrics on its eval split")
    register("latency", "ucdbench_plugins.evaluations.latency:Latency",
             summary="warm-up, then p50/p90/p99 per batch and samples/s, synchronised; energy where metered")
    register("flops", "ucdbench_plugins.evaluations.flops:Flops",
             summary="per-sample forward FLOPs (FlopCounterMode, real shapes) against the dense base model")
    register("reconstruction", "ucdbench_plugins.evaluations.reconstruction:Reconstruction",
             summary="artifact file -> dense weights on the device, median time; equality with the scored weights")
    register("knn", "ucdbench_plugins.evaluations.knn:KNN",
             summary="1-NN and 20-NN top-1 of the run's representation (L2-normalised; train split as the bank)")
    register("linear-probe", "ucdbench_plugins.evaluations.linear_probe:LinearProbe",
             summary="top-1 of a linear classifier on the run's frozen features")
    register("flops-under-attack", "ucdbench_plugins.evaluations.flops_under_attack:FlopsUnderAttack",
             summary="per-sample FLOPs clean vs attacked vs random patch, attack success, accuracy; energy where metered")
    register("targeted-attack", "ucdbench_plugins.evaluations.targeted_attack:TargetedAttackEvaluation",
             summary="attack success rate of a trigger and clean top-1, before and after an input defence (blocking)")
    register("generation-cost", "ucdbench_plugins.evaluations.generation_cost:GenerationCost",
             summary="few-shot augmentation: images made per second for one episode's support set, synchronised")
    register("sample-grid", "ucdbench_plugins.evaluations.sample_grid:SampleGrid",
             summary="a generative augmentation's sources and what it makes of them, attached as an image")
