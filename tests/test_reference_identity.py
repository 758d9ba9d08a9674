"""A run's key includes the keys of the runs it consumes: an edit of the teacher method's code
changes a SimReg student's key though the student's own settings and code are the same, so
the student re-runs on the new teacher instead of being served from the results."""

from __future__ import annotations

from pathlib import Path

from ucdbench.running.executors import run_all
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, resolve
from ucdbench.running.store import RunStore

CNN = {"task.model": "cnn", "task.classes": "0-9", "task.pretrain_classes": "none", "task.width": 8}
STUDENT = RunSpec("simreg", "digits", "smoke", 0, "cpu", {**CNN, "teacher": "byol"})


def _teacher_module() -> str:
    return load_registry().get("method", "byol").target.partition(":")[0]


def test_the_teacher_module_is_outside_the_students_own_code():
    """What the tests below rely on: editing the teacher's module can reach the student's key
    only through its reference, not through the student's own code fingerprint."""
    from ucdbench.running.fingerprint import module_closure

    student_module = load_registry().get("method", "simreg").target.partition(":")[0]
    assert _teacher_module() not in module_closure(student_module)


def test_editing_the_teachers_code_changes_the_students_key_through_its_reference(edited, tmp_path):
    before = resolve(load_registry(), STUDENT, RunStore(tmp_path))
    edited(_teacher_module())
    after = resolve(load_registry(), STUDENT, RunStore(tmp_path))
    assert after.code == before.code and after.method_config == before.method_config  # the student itself is as it was
    assert after.references["teacher"][0].key != before.references["teacher"][0].key
    assert after.key != before.key


def test_after_an_edit_of_the_teachers_code_the_student_reruns_on_the_new_teacher(edited, tmp_path):
    registry, store = load_registry(), RunStore(tmp_path)
    (first,) = run_all(registry, [STUDENT], store)
    assert first["status"] == "ok", first.get("error")
    (served,) = run_all(registry, [STUDENT], store)
    assert served["key"] == first["key"]
    assert len(list(Path(tmp_path, "runs").glob("*.json"))) == 2  # served from the results: nothing ran again

    edited(_teacher_module())
    (rerun,) = run_all(registry, [STUDENT], store)
    assert rerun["status"] == "ok", rerun.get("error")
    assert rerun["key"] != first["key"]
    assert rerun["references"]["teacher"][0]["key"] != first["references"]["teacher"][0]["key"]
    assert len(list(Path(tmp_path, "runs").glob("*.json"))) == 4  # a new teacher and a new student
