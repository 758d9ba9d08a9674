"""The example packages of docs/plugins/*.md work as the pages say: each is installed as a user
would install it (pip, from its folder, with its entry point) and driven through the command
line in a subprocess — the int8 method fitted, rebuilt and checked, the evaluation measured
later on recorded runs without fitting again, the task and the hardware run."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"

pytestmark = pytest.mark.ucdbench_e2e


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Example name → a folder holding it installed (pip, from a copy of its source folder —
    pip builds in the tree, and parallel test workers must not share one — with no
    dependencies: ucdbench is this environment's), each apart, so a test chooses what is
    installed by what it puts on PYTHONPATH."""
    root = tmp_path_factory.mktemp("examples")
    folders = {}
    for example in ("int8-ptq", "weight-norm", "stripes", "cpu-pinned"):
        source = shutil.copytree(EXAMPLES / example, root / "src" / example,
                                 ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        folders[example] = str(root / example)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", folders[example], str(source)], check=True, capture_output=True, timeout=300)
    return folders


def _with(installed: dict[str, str], *examples: str) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(installed[e] for e in examples)}


def _records(results: Path) -> dict[str, dict]:
    """Method name → its record (one run each)."""
    return {r["method"]["name"]: r for r in map(json.loads, map(Path.read_text, (results / "runs").glob("*.json")))}


def _tensor_bytes(path: str) -> dict[str, int]:
    """Bytes of tensor data in a safetensors file, by dtype (its header is the file's first
    8-byte length and that much JSON)."""
    data = Path(path).read_bytes()
    header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
    header.pop("__metadata__", None)
    by_dtype: dict[str, int] = {}
    for tensor in header.values():
        start, end = tensor["data_offsets"]
        by_dtype[tensor["dtype"]] = by_dtype.get(tensor["dtype"], 0) + end - start
    return by_dtype


def test_the_examples_register_under_their_distributions(installed):
    listed = run_cli("list", env=_with(installed, *installed))
    assert listed.returncode == 0, listed.stderr
    for name in installed:
        assert name in listed.stdout and f"ucdbench-{name}" in listed.stdout
    assert "broken" not in listed.stdout.lower()


def test_int8_ptq_stores_a_quarter_and_scores_as_the_fp32_model_then_weight_norm_is_measured_later(installed, tmp_path):
    ran = run_cli("run", "--method", "int8-ptq", "--task", "digits", "--preset", "smoke", results=tmp_path,
                  env=_with(installed, "int8-ptq"), timeout=900)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    records = _records(tmp_path)
    int8, fp32 = records["int8-ptq"], records["full-ft"]  # the source run, fitted first
    assert int8["status"] == fp32["status"] == "ok"
    assert [r["key"] for r in int8["references"]["source"]] == [fp32["key"]]

    stored, dense = _tensor_bytes(int8["artifact"]), _tensor_bytes(fp32["artifact"])
    assert set(stored) == {"I8", "F32"} and set(dense) == {"F32"}
    assert 0.25 < sum(stored.values()) / dense["F32"] < 0.35  # int8 weights, fp32 scales, biases, norms
    assert int8["evaluations"]["compression"]["artifact_bytes"] < 0.4 * fp32["evaluations"]["compression"]["artifact_bytes"]
    assert int8["evaluations"]["reconstruction"]["weights_equal"] is True
    assert abs(int8["evaluations"]["accuracy"]["top1"] - fp32["evaluations"]["accuracy"]["top1"]) <= 3.0
    assert "weight-norm" not in int8["evaluations"]

    evaluated = run_cli("evaluate", "--results", str(tmp_path), env=_with(installed, "int8-ptq", "weight-norm"))
    assert evaluated.returncode == 0, evaluated.stdout[-2000:] + evaluated.stderr[-2000:]
    after = _records(tmp_path)
    for method, record in after.items():
        assert record["key"] == records[method]["key"]  # nothing was fitted again
        assert record["measurements"]["weight-norm"]["status"] == "ok"
        assert record["measurements"]["weight-norm"]["on"] == "artifact"
        assert record["measurements"]["accuracy"]["on"] == "fit"
    norms = [after[m]["evaluations"]["weight-norm"]["l2"] for m in ("int8-ptq", "full-ft")]
    assert norms[0] != norms[1] and abs(norms[0] - norms[1]) < 0.01 * norms[1]  # quantisation moves weights a little


def test_int8_ptq_passes_the_conformance_kit(installed):
    checked = run_cli("check-plugin", "int8-ptq", env=_with(installed, "int8-ptq"), timeout=900)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    assert "FAIL" not in checked.stdout and "PASS  rebuilds" in checked.stdout


def test_stripes_learns_on_cpu_pinned_and_both_pass_the_kit(installed, tmp_path):
    env = _with(installed, "stripes", "cpu-pinned")
    ran = run_cli("run", "--method", "full-ft", "--task", "stripes", "--hardware", "cpu-pinned", "--preset", "smoke",
                  "--threads", "1", results=tmp_path, env=env, timeout=600)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    record = _records(tmp_path)["full-ft"]
    assert record["evaluations"]["accuracy"]["top1"] > 40  # four classes: chance is 25%
    assert record["evaluations"]["reconstruction"]["weights_equal"] is True
    assert record["hardware"]["kind"] == "cpu-pinned"
    assert record["hardware"]["pinned_cores"] == sorted(os.sched_getaffinity(0))[:1]
    assert len(record["evaluations"]["latency"]["samples_ms"]) > 0
    for name in ("stripes", "cpu-pinned", "weight-norm"):
        checked = run_cli("check-plugin", name, env=_with(installed, name))
        assert checked.returncode == 0 and "FAIL" not in checked.stdout, checked.stdout + checked.stderr
