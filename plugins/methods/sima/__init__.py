"""SimA (softmax-free attention) as a ucdbench plugin: light at import; the code lives in
:mod:`ucdbench_plugins.methods.sima.attention` (the operator and the timm module swap),
:mod:`ucdbench_plugins.methods.sima.method` (the methods) and
:mod:`ucdbench_plugins.methods.sima.latency_sweep` (SimA vs SDPA against sequence length)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("sima", "ucdbench_plugins.methods.sima.method:SimA",
             summary="SimA: L1-normalised q, k over tokens, no softmax, linear in N (WACV 2024)")
    register("softmax-vit", "ucdbench_plugins.methods.sima.method:SoftmaxViT",
             summary="baseline for SimA: the unchanged softmax ViT trained with SimA's recipe")
