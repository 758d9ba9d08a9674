"""Runs that consume other runs: the RunReference setting, its resolution before anything runs,
the cache of the referenced run, and bad references as usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from ucdbench.running.executors import run_all
from ucdbench.contracts.interfaces import UcdbenchError
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, resolve
from ucdbench.contracts.settings import RunReference, parse_reference
from ucdbench.running.store import RunStore

CNN = {"task.model": "cnn", "task.classes": "0-9", "task.pretrain_classes": "none", "task.width": 8}


def test_a_reference_is_a_method_with_settings_or_a_run_key():
    parsed = parse_reference("byol:epochs=2:task.width=64:task.model=cnn")
    assert parsed.method == "byol" and parsed.key is None
    assert parsed.overrides == (("epochs", 2), ("task.width", 64), ("task.model", "cnn"))
    assert parse_reference("0123456789abcdef").key == "0123456789abcdef"
    with pytest.raises(UcdbenchError, match="is not KEY=VALUE"):
        parse_reference("byol:epochs")


def test_the_setting_refuses_malformed_references_and_lists_where_one_is_meant():
    one, many = RunReference("byol", "a teacher"), RunReference("byol", "teachers", many=True)
    assert one.problem("byol:lr=0.1") is None
    assert "is not KEY=VALUE" in one.problem("byol:lr")
    assert "expected a string" in one.problem(["byol"])
    assert many.problem(["byol", "msf:topk=3"]) is None
    assert "empty list" in many.problem([])


def test_a_referenced_method_runs_on_the_same_task_with_the_referring_task_overrides_then_its_own(tmp_path):
    registry = load_registry()
    run = resolve(registry, RunSpec("simreg", "digits", "smoke", 0, "cpu", {**CNN, "teacher": "byol:task.width=16"}),
                  RunStore(tmp_path))
    (teacher,) = run.references["teacher"]
    assert teacher.method == "byol"
    assert teacher.run.spec.overrides == {**CNN, "task.width": 16}
    assert teacher.run.task_config["width"] == 16 and run.task_config["width"] == 8
    other = resolve(registry, RunSpec("simreg", "digits", "smoke", 0, "cpu", {**CNN, "teacher": "byol:task.width=32"}),
                    RunStore(tmp_path))
    assert other.key != run.key  # the teacher's key is part of the student's


@pytest.mark.parametrize(("reference", "message"), [
    ("byoll", "unknown method 'byoll'"),
    ("byol:lrr=1", "has no setting 'lrr'"),
    ("0123456789abcdef", "holds no record with that key"),
])
def test_bad_references_are_usage_errors_at_resolution(tmp_path, reference, message):
    with pytest.raises(UcdbenchError, match=message) as error:
        resolve(load_registry(), RunSpec("simreg", "digits", "smoke", 0, "cpu", {**CNN, "teacher": reference}),
                RunStore(tmp_path))
    assert "teacher=" in str(error.value)


def test_the_teacher_runs_once_and_is_reused_from_the_results(tmp_path):
    registry, store = load_registry(), RunStore(tmp_path)
    specs = [RunSpec("simreg", "digits", "smoke", 0, "cpu", {**CNN, "teacher": "byol:task.width=16", "head": head})
             for head in ("mlp", "linear")]
    first, second = list(run_all(registry, specs, store))
    assert first["status"] == second["status"] == "ok", (first.get("error"), second.get("error"))
    teacher_key = first["references"]["teacher"][0]["key"]
    assert second["references"]["teacher"][0]["key"] == teacher_key
    teacher = store.get(teacher_key)
    assert teacher["status"] == "ok" and teacher["method"]["name"] == "byol"
    assert len(list(Path(tmp_path, "runs").glob("*.json"))) == 3  # one teacher, two students
    by_key = list(run_all(registry, [RunSpec("simreg", "digits", "smoke", 0, "cpu",
                                             {**CNN, "teacher": teacher_key, "epochs": 0.5})], store))[0]
    assert by_key["status"] == "ok" and by_key["references"]["teacher"][0]["key"] == teacher_key


@pytest.mark.ucdbench_e2e
def test_a_bad_teacher_is_exit_2_before_any_run_starts(tmp_path):
    result = run_cli("run", "--method", "simreg", "--preset", "smoke", "--set", "teacher=byol,nosuch",
                     results=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "teacher='nosuch'" in result.stderr and "unknown method 'nosuch'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_several_teachers_are_a_json_list_each_resolved(tmp_path):
    run = resolve(load_registry(), RunSpec("simreg", "digits", "smoke", 0, "cpu",
                                           {**CNN, "teacher": ["byol:task.width=16", "msf:task.width=16"]}),
                  RunStore(tmp_path))
    assert [ref.method for ref in run.references["teacher"]] == ["byol", "msf"]
    assert len({ref.key for ref in run.references["teacher"]}) == 2
