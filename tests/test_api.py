"""The public API: everything in ``__all__`` resolves, light names import no torch, and the
built-in plugins reach the harness through it alone."""

from __future__ import annotations

import subprocess
import sys

import ucdbench.api as api


PUBLIC = {
    'Artifact', 'ArtifactKind', 'AugmentedViews', 'Capability', 'ChartAxis', 'Config', 'ControlRow',
    'Curves', 'DivergedError', 'EpochCurve', 'EnergyMeter', 'Evaluation', 'EvaluationContext', 'FLOPS_CONVENTION',
    'FewShotClassification', 'FigureKind', 'FitContext', 'Hardware', 'ImageClassification', 'LabelledBatch',
    'LanguageModeling', 'MemoryNeed', 'Method', 'Metric', 'Outcome', 'PRESETS', 'PerPreset', 'PerTask',
    'Paper', 'Reconstruct', 'ReferencedRun', 'Register', 'ReportedFigure', 'RunReference', 'SceneReconstruction',
    'Setting', 'Sink', 'SinkRun', 'Task', 'TimedCalls', 'UcdbenchError', 'ViewBatch', 'cached_tensors', 'config_key',
    'count_flops', 'dense_artifact', 'dense_model_outcome', 'encoder_of', 'expand_dense', 'git_commit',
    'held_base', 'hookimpl', 'initial_model', 'load_registry', 'mean_ci', 'model_with_state',
    'paired_comparison', 'percentile', 'persistent_buffers', 'pretrained_base', 'progress_bar',
    'read_artifact', 'rebuild_model', 'rebuild_run', 'rebuilt_scores', 'shuffled_batches', 'slowdown_test',
    'state_with', 'stored_dense', 'time_calls', 'time_repeats', 'timed_phase', 'train',
}
"""Every name a plugin may import. A name gone or renamed breaks third-party plugins: change this
set only with a deprecation, never as a side effect of moving the harness's modules."""


def test_the_public_names_are_the_ones_plugins_rely_on():
    assert set(api.__all__) == PUBLIC


def test_every_public_name_resolves():
    missing = [name for name in api.__all__ if getattr(api, name, None) is None]
    assert not missing, f"ucdbench.api.__all__ names what it does not have: {missing}"


def test_the_types_import_without_torch():
    code = ("import sys; from ucdbench.api import Method, Task, Setting, PerPreset, Outcome, FigureKind, hookimpl; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_an_unknown_name_says_where_the_public_api_is():
    try:
        api.not_a_thing  # noqa: B018
    except AttributeError as exc:
        assert "ucdbench.api.__all__" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_a_figure_kind_is_stored_as_its_value_and_old_records_read_as_quality(tmp_path):
    from dataclasses import asdict

    from ucdbench.running.store import RunStore

    figure = asdict(api.Metric("p50_ms", False, "ms", kind=api.FigureKind.TIMING))
    store = RunStore(tmp_path)
    store.write({"key": "k", "figures": {"latency": [figure]}})
    stored = store.get("k")["figures"]["latency"][0]
    assert stored["kind"] == "timing"
    assert api.FigureKind.of(stored) is api.FigureKind.TIMING
    assert api.FigureKind.of({"name": "top1", "higher_is_better": True}) is api.FigureKind.QUALITY
    assert api.Metric("top1", True).kind is api.FigureKind.QUALITY
