"""A plugin registering a built-in's name (``lora``), the example plugin's ``linear-probe`` and
a name of its own. Its distribution, shadow-ucdbench-plugin, sorts before both ``ucdbench``
and ucdbench-example-plugin: it must still lose ``lora`` (built-ins win whatever the order),
take ``linear-probe`` from the example (among third-party plugins the first loaded wins),
and keep ``shadow-probe``. The tests only list it, so its lazy targets are never imported
(and need not exist)."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("lora", "ucdbench_shadow_plugin.methods:ShadowLoRA", summary="tries to replace the built-in")
    register("linear-probe", "ucdbench_shadow_plugin.methods:ShadowProbe", summary="takes the example's name")
    register("shadow-probe", "ucdbench_shadow_plugin.methods:ShadowProbe", summary="a name of its own")
