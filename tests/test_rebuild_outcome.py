"""Fit once, measure later: every built-in method's outcome rebuilt from its artifact file and its
task alone (``Method.rebuild_outcome``) gives every evaluation the run measured the same exact
and quality figures, to the last digit, as the outcome ``fit`` returned, and the same skips.

Each case fits one smoke run through the runner into a results folder shared by the module (so
referenced runs, a teacher or another modality's encoder, run once), then measures every
evaluation of the run again as the harness measures a recorded run later
(:func:`ucdbench.running.runner.remeasure`: the task from the record's configuration, the outcome rebuilt
from the artifact file, never fitted again), into a copy of the record and another folder.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from ucdbench.contracts.interfaces import FigureKind
from ucdbench.running.measuring import MEASURED_ON_ARTIFACT
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, execute, remeasure, resolve
from ucdbench.running.store import RunStore

CNN = {"task.model": "cnn", "task.classes": "0-9", "task.pretrain_classes": "none", "task.width": 8}
"""A small CNN from scratch on all ten digits: the representation methods' quick setting (as
tests/test_run_references.py)."""
FAST_LATENCY = {"eval.latency.min_iters": 2, "eval.latency.min_seconds": 0.0, "eval.latency.warmup": 1}
FEW_EPISODES = {"task.episodes": 2, "task.inference_steps": 5}
"""The few-shot task's smallest: two episodes, a short sampler (its generator as the other tests train it)."""

CASES: list[tuple[str, str, dict[str, Any]]] = [
    *[(method, "digits", {}) for method in (
        "full-ft", "base", "lora", "vera", "nola", "mcnc", "pranc", "sima", "softmax-vit", "avit", "ats",
        "slowformer", "backdoor")],
    ("slowformer", "digits", {"defense": "adv-train"}),
    ("backdoor", "digits", {"variant": "hidden"}),
    ("nola", "digits", {"mode": "scratch", **CNN}),
    ("pranc", "digits", {"mode": "adapter", "task.model": "cnn"}),
    ("lora", "pydocs", {}),
    *[(method, "digits", CNN) for method in ("byol", "msf", "cmsf", "cmsf-sup", "cmsf-semi")],
    ("cmsf", "digits", {"constraint": "km", **CNN}),
    ("cmsf-xmodal", "digits", {**CNN, "other": "byol:task.modality=edges"}),
    ("simreg", "digits", {**CNN, "teacher": "byol:task.width=16"}),
    *[(method, "scene", {}) for method in ("compgs", "gs-kmeans-post", "gs-half", "gs-int8", "gs-uncompressed")],
    *[(method, "fewshot", FEW_EPISODES) for method in (
        "genie", "genie-ada", "img2img", "txt2img", "mixup", "cutmix", "fewshot-none")],
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("results"))


def _case_id(case: tuple[str, str, dict[str, Any]]) -> str:
    method, task, overrides = case
    own = ",".join(f"{k}={v}" for k, v in overrides.items() if not k.startswith("task.") and k not in ("other", "teacher"))
    return f"{method}-{task}" + (f"-{own}" if own else "")


def _same(a: Any, b: Any) -> bool:
    """Equal as the record holds them (through JSON), NaN equal to NaN."""
    a, b = json.loads(json.dumps(a)), json.loads(json.dumps(b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_the_outcome_rebuilt_from_the_artifact_measures_as_the_fitted_one(case, store, tmp_path):
    method, task, overrides = case
    run = resolve(load_registry(), RunSpec(method, task, "smoke", 0, "cpu", {**FAST_LATENCY, **overrides}),
                  store)
    record = execute(run, "cpu", store)
    assert record["status"] == "ok", record.get("traceback")

    again = remeasure(copy.deepcopy(record), run.method, run.task, run.hardware, run.measurements, "cpu",
                      RunStore(tmp_path))

    assert set(again["measured"]) == {plan.entry.name for plan in run.measurements}
    for name, measurement in again["measurements"].items():
        assert measurement["on"] == MEASURED_ON_ARTIFACT and measurement["status"] != "failed", (
            f"{name}: {measurement.get('traceback')}")
    assert again["skipped"] == record["skipped"]
    assert _same(again["figures"], record["figures"])
    compared = 0
    for evaluation, declared in record["figures"].items():
        for figure in declared:
            name, kind = figure["name"], FigureKind.of(figure)
            rebuilt = again["evaluations"][evaluation].get(name)
            if kind is FigureKind.TIMING:
                assert isinstance(rebuilt, (int, float)), f"{evaluation}/{name}: no timing"
                continue
            fitted = record["evaluations"][evaluation].get(name)
            assert _same(rebuilt, fitted), f"{evaluation}/{name} ({kind.value}): fitted {fitted}, rebuilt {rebuilt}"
            compared += 1
    assert compared, "no exact or quality figure was compared"
