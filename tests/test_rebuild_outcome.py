"""Fit once, measure later: every built-in method's outcome rebuilt from its artifact file and its
task alone (``Method.rebuild_outcome``) gives every evaluation the run measured the same exact
and quality figures, to the last digit, as the outcome ``fit`` returned, and the same skips.

Each case fits one smoke run through the runner into a results folder shared by the module (so
referenced runs, a teacher or another modality's encoder, run once), then rebuilds as a later
measurement would: the task from the record's configuration, the artifact read from its file,
the outcome from the method, and every evaluation of the run measured on it.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ucdbench.artifacts import read_artifact
from ucdbench.interfaces import EvaluationContext, FigureKind
from ucdbench.plugins import load_registry
from ucdbench.runner import RunSpec, ResolvedRun, execute, resolve
from ucdbench.store import RunStore

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


def _json(value: Any) -> Any:
    """A figure as the record holds it (through JSON)."""
    return json.loads(json.dumps(value))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _rebuilt_measurements(run: ResolvedRun, record: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Every evaluation of ``run`` measured on the outcome rebuilt from ``record``'s artifact, as
    the runner would measure it (the same seeds before the task is built): results, skips and
    declared figures."""
    registry = load_registry()
    seed, device = record["seed"], torch.device("cpu")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    task = registry.get("task", record["task"]["name"]).load()(record["preset"], seed, record["task"]["config"])
    task.prepare()
    artifact_path = Path(record["artifact"]) if record.get("artifact") else None
    artifact = read_artifact(artifact_path, device) if artifact_path else None
    outcome = registry.get("method", record["method"]["name"]).load()().rebuild_outcome(task, artifact, device)
    hardware = run.hardware.load()()
    results: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    figures: dict[str, list[dict[str, Any]]] = {}
    for entry in run.evaluations:
        evaluation = entry.load()()
        ctx = EvaluationContext(task=task, outcome=outcome, hardware=hardware, device=device, preset=record["preset"],
                                config=run.eval_configs[entry.name], artifact_path=artifact_path,
                                results=results)
        reason = evaluation.skip_reason(ctx)
        if reason:
            skipped[entry.name] = reason
            continue
        results[entry.name] = evaluation.measure(ctx)
        figures[entry.name] = _json([vars(m) for m in evaluation.declared_figures(ctx)])
    return results, skipped, figures


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_the_outcome_rebuilt_from_the_artifact_measures_as_the_fitted_one(case, store):
    method, task, overrides = case
    run = resolve(load_registry(), RunSpec(method, task, "smoke", 0, "cpu", {**FAST_LATENCY, **overrides}),
                  store)
    record = execute(run, "cpu", store)
    assert record["status"] == "ok", record.get("traceback")

    results, skipped, figures = _rebuilt_measurements(run, record)

    assert skipped == record["skipped"]
    assert figures == record["figures"]
    compared = 0
    for evaluation, declared in record["figures"].items():
        for figure in declared:
            name, kind = figure["name"], FigureKind.of(figure)
            if kind is FigureKind.TIMING:
                assert isinstance(results[evaluation].get(name), (int, float)), f"{evaluation}/{name}: no timing"
                continue
            fitted, rebuilt = record["evaluations"][evaluation].get(name), _json(results[evaluation].get(name))
            assert _same(rebuilt, fitted), f"{evaluation}/{name} ({kind.value}): fitted {fitted}, rebuilt {rebuilt}"
            compared += 1
    assert compared, "no exact or quality figure was compared"
