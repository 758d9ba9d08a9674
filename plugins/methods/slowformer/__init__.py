"""SlowFormer (CVPR 2024): a universal adversarial patch that raises the compute of adaptive
ViTs. Light at import; the patch is in :mod:`.patch`, the per-target objectives in
:mod:`.losses`, the attack and the adversarial-training defence in :mod:`.method`."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("slowformer", "ucdbench_plugins.methods.slowformer.method:SlowFormer",
             summary="universal patch that maximises the compute of A-ViT / ATS (--set target=avit|ats)")
