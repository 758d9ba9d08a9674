"""Adaptive-compute ViTs with real token dropping — A-ViT (token halting) and ATS (adaptive
token sampling) — the targets of the SlowFormer attack. Light at import; the models live in
:mod:`.avit` and :mod:`.ats`, shared pieces in :mod:`.tokens`, the methods in :mod:`.method`."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("avit", "ucdbench_plugins.shared.adaptive_vit.method:AViTMethod",
             summary="A-ViT: per-token halting, ponder loss + halting prior; halted tokens are dropped")
    register("ats", "ucdbench_plugins.shared.adaptive_vit.method:ATSMethod",
             summary="ATS: adaptive token sampling from class attention; unsampled tokens are dropped")
