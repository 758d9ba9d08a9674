"""``base``: the pretrained base as it is, scored without training or storing anything."""

from __future__ import annotations

import torch

from ucdbench.contracts.interfaces import FitContext
from ucdbench_plugins.tasks.pydocs.task import PyDocs
from ucdbench_plugins.methods.full_ft.method import PretrainedBase


def test_base_scores_the_pretrained_weights_unchanged_and_stores_nothing():
    task = PyDocs("smoke", 0, PyDocs.defaults("smoke"))
    task.prepare()
    ctx = FitContext(device=torch.device("cpu"), seed=0, preset="smoke", progress=lambda it, **_: it)
    outcome = PretrainedBase().fit(task, PretrainedBase.defaults("smoke"), ctx)
    assert outcome.artifact is None and outcome.reconstruct is None
    reference = task.base_model(pretrained=True).state_dict()
    for name, value in outcome.model.state_dict().items():
        assert torch.equal(value, reference[name]), name
    assert task.evaluate(outcome.model, ctx.device) == task.evaluate(task.base_model(pretrained=True), ctx.device)
