"""The broken plugin's classes, through ucdbench.api only (no torch at import)."""

from ucdbench.api import Method, Outcome, Setting


class NoFit(Method):
    """Declares everything but ``fit()``: abstract, so it cannot be instantiated."""

    name = "no-fit"
    settings = {"epochs": Setting(1, "passes over the training split", minimum=1)}


class ThreeEpochs(Method):
    """Concrete, but ``epochs`` has a string default and a minimum: no value could satisfy it."""

    name = "three-epochs"
    settings = {"epochs": Setting("three", "passes over the training split", minimum=1)}

    def fit(self, task, config, ctx):
        return Outcome(model=task.base_model(pretrained=True))


class DirectNoFit(Method):
    name = "direct-no-fit"
