"""What a run record says, as every report reads it (ucdbench.reporting.records): its settings
with each source's prefix, overrides on top, old records without the newer keys, and the machine's label."""

from __future__ import annotations

from ucdbench.reporting.records import has_settings, hardware_label, method_settings, resolved_settings, task_settings

RECORD = {
    "method": {"name": "lora", "config": {"rank": 8, "lr": 0.1}},
    "task": {"name": "digits", "config": {"label_noise": 0.0}},
    "evaluation_configs": {"knn": {"vote": "majority"}, "latency": {"warmup": 2}},
    "overrides": {"lr": 0.2},
}


def test_settings_gather_method_task_and_evaluations_with_overrides_on_top():
    assert resolved_settings(RECORD) == {"rank": 8, "lr": 0.2, "task.label_noise": 0.0,
                                         "eval.knn.vote": "majority", "eval.latency.warmup": 2}
    assert method_settings(RECORD) == {"rank": 8, "lr": 0.2, "eval.knn.vote": "majority", "eval.latency.warmup": 2}
    assert task_settings(RECORD) == {"label_noise": 0.0}


def test_an_old_record_without_evaluation_configs_or_overrides_reads_its_method_and_task():
    old = {"method": {"name": "lora", "config": {"rank": 8}}, "task": {"name": "digits"}}
    assert resolved_settings(old) == {"rank": 8}
    assert has_settings(old, {"rank": 8}) and not has_settings(old, {"rank": 4}) and not has_settings(old, {"lr": 0.1})


def test_a_default_matches_a_run_that_never_set_it():
    assert has_settings(RECORD, {"task.label_noise": 0.0, "eval.knn.vote": "majority"})
    assert not has_settings(RECORD, {"lr": 0.1})  # the override is what it ran with


def test_the_hardware_label_names_kind_name_and_threads_and_marks_what_is_missing():
    assert hardware_label({"kind": "cpu", "name": "Xeon", "threads": 1}) == "cpu: Xeon, 1 thread"
    assert hardware_label({"kind": "cpu", "name": "Xeon", "threads": 4}) == "cpu: Xeon, 4 threads"
    assert hardware_label({"kind": "cuda", "name": "H100"}) == "cuda: H100"
    assert hardware_label({}) == "?: ?"
