"""A third-party plugin as one goes wrong in practice, registered lazily (``"module:attribute"``):
a method class without ``fit()`` (abstract), a method whose setting is declared wrongly
(``Setting("three", ..., minimum=1)``: a minimum on a string), and a name a built-in has
(``base``, lost to the collision). ``ucdbench list`` cannot see the first two (it imports no
target), so they must fail, with the reason, when a run, ``list --matrix`` or
``check-plugin`` loads them; the rest of ucdbench must carry on."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("no-fit", "ucdbench_broken_plugin.methods:NoFit", summary="forgot to define fit()")
    register("three-epochs", "ucdbench_broken_plugin.methods:ThreeEpochs", summary="a setting declared wrongly")
    register("base", "ucdbench_broken_plugin.methods:NoFit", summary="takes a built-in's name")
