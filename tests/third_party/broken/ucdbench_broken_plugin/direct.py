"""The same distribution's second plugin registers its class directly (not as a string), so
ucdbench checks it at registration: abstract (no ``fit()``), so ``ucdbench list`` names this
plugin as broken and keeps nothing it registered."""

from ucdbench import hookimpl
from ucdbench_broken_plugin.methods import DirectNoFit


@hookimpl
def ucdbench_register_methods(register):
    register("direct-no-fit", DirectNoFit, summary="forgot to define fit(), registered directly")
