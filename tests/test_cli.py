"""The CLI end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import THIRD_PARTY, run_cli

pytestmark = pytest.mark.ucdbench_e2e

# Fake third-party packages whose registration goes wrong in every way ucdbench must report.
REGISTRATION = {"PYTHONPATH": str(THIRD_PARTY / "registration")}


def test_help_list_plugins_and_cache_info_do_not_import_torch():
    probe = ("import sys, contextlib, io\n"
             "from ucdbench.cli import main\n"
             "for argv in (['--help'], ['list'], ['list', '--json'], ['plugins'], ['plugins', '--json'],\n"
             "             ['cache', 'info']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        try: main(argv)\n"
             "        except SystemExit: pass\n"
             "heavy = sorted(m for m in ('torch', 'timm', 'transformers', 'peft', 'pandas') if m in sys.modules)\n"
             "print(','.join(heavy))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout}"


def test_list_shows_builtins_and_third_party_with_versions():
    result = run_cli("list", "--json", third_party=True)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    methods = {m["name"]: m for m in listing["method"]}
    assert {"full-ft", "lora", "linear-probe"} <= set(methods)
    assert methods["linear-probe"]["distribution"] == "ucdbench-example-plugin"
    assert methods["linear-probe"]["version"] == "0.3.0"
    assert {"digits", "mnist"} <= {t["name"] for t in listing["task"]}
    assert {"cpu", "cuda"} <= {h["name"] for h in listing["hardware"]}
    assert [e["name"] for e in listing["evaluation"]][:5] == ["compression", "accuracy", "latency", "flops", "reconstruction"]


def test_broken_plugin_is_listed_and_the_rest_work(tmp_path: Path):
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ucdbench]\nbroken = broken_plugin_module\n")
    (tmp_path / "broken_plugin_module.py").write_text("raise ImportError('missing dependency xyz')\n")
    result = run_cli("list", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "Broken plugins" in result.stdout
    assert "missing dependency xyz" in result.stdout
    assert "full-ft" in result.stdout  # the others still load


def test_list_reports_each_registration_problem_with_its_fix_and_keeps_the_rest():
    result = run_cli("list", "--json", third_party=True, env=REGISTRATION)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    broken = {(b["name"], b["distribution"]): b["error"] for b in listing["broken"]}
    assert set(broken) == {("misspelled", "ucdbench-misspelled-plugin"), ("mislabelled", "ucdbench-mislabelled-plugin"),
                           ("empty", "ucdbench-twin-plugin")}
    assert ("unknown hook 'ucdbench_register_method'. Did you mean 'ucdbench_register_methods'?"
            in broken["misspelled", "ucdbench-misspelled-plugin"])
    mislabelled = broken["mislabelled", "ucdbench-mislabelled-plugin"]
    assert "has name 'renamed-in-class' but is registered as 'renamed'" in mislabelled
    assert "NotATask is not a subclass of ucdbench.api.Task" in mislabelled
    assert "already taken by ucdbench-empty-plugin 1.0" in broken["empty", "ucdbench-twin-plugin"]
    methods = {m["name"]: m for m in listing["method"]}
    tasks = {t["name"] for t in listing["task"]}
    assert not {"misspelled-method", "renamed"} & set(methods) and not {"misspelled-task", "not-a-task", "twin-task"} & tasks

    # Built-ins win even over a distribution that sorts first; among third-party plugins the first
    # loaded (shadow-ucdbench-plugin < ucdbench-example-plugin) wins; each loser keeps its other names.
    assert methods["lora"]["distribution"] == "ucdbench"
    assert methods["linear-probe"]["plugin"] == "shadow" and methods["shadow-probe"]["plugin"] == "shadow"
    assert {"diverge", "sleepy"} <= set(methods) and "cpu-pair" in {h["name"] for h in listing["hardware"]}
    lost = {(c["name"], c["plugin"]): c["kept_by"]["plugin"] for c in listing["collisions"]}
    assert lost == {("lora", "shadow"): "lora", ("linear-probe", "example"): "shadow"}

    text = run_cli("list", third_party=True, env=REGISTRATION).stdout
    assert "Broken plugins" in text and "Names not registered" in text
    assert ("method 'lora' of plugin 'shadow' (shadow-ucdbench-plugin 1.0) is not registered: plugin 'lora' "
            "(ucdbench 0.1.0) has that name and built-in plugins win") in text.replace("\n", " ")


def test_plugins_lists_every_plugin_with_its_hooks_and_registrations():
    result = run_cli("plugins", "--json", third_party=True, env=REGISTRATION)
    assert result.returncode == 0, result.stderr
    plugins = {(p["name"], p["distribution"]): p for p in json.loads(result.stdout)}
    example = plugins["example", "ucdbench-example-plugin"]
    assert example["version"] == "0.3.0" and example["module"] == "ucdbench_example_plugin"
    assert example["hooks"] == ["ucdbench_register_hardware", "ucdbench_register_methods"]
    assert example["registered"] == {"method": ["diverge", "sleepy", "crash"], "hardware": ["cpu-pair"]}
    assert [(lost["name"], lost["kept_by"]["plugin"]) for lost in example["lost"]] == [("linear-probe", "shadow")]
    empty = plugins["empty", "ucdbench-empty-plugin"]
    assert (empty["hooks"], empty["registered"], empty["error"]) == ([], {}, "")
    misspelled = plugins["misspelled", "ucdbench-misspelled-plugin"]
    assert misspelled["hooks"] == ["ucdbench_register_method", "ucdbench_register_tasks"] and misspelled["error"]
    assert plugins["lora", "ucdbench"]["registered"] == {"method": ["lora"]}

    text = run_cli("plugins", third_party=True, env=REGISTRATION).stdout
    block = text[text.index("empty  (ucdbench-empty-plugin 1.0"):]
    assert block.splitlines()[1:3] == ["  hooks: none", "  registered: nothing"]
    assert "  lost: method 'linear-probe', kept by plugin 'shadow' (shadow-ucdbench-plugin 1.0)" in text


def test_unknown_names_get_close_matches():
    result = run_cli("run", "--method", "lorra", "--preset", "smoke")
    assert result.returncode == 2
    assert "unknown method 'lorra'" in result.stderr and "'lora'" in result.stderr
    result = run_cli("run", "--method", "lora", "--task", "digit", "--preset", "smoke")
    assert result.returncode == 2 and "'digits'" in result.stderr


def test_bad_settings_say_what_is_valid(tmp_path: Path):
    result = run_cli("run", "--method", "lora", "--preset", "smoke", "--set", "rnak=2", results=tmp_path)
    assert result.returncode == 2
    assert "no setting 'rnak'" in result.stderr and "rank" in result.stderr
    result = run_cli("run", "--method", "lora", "--preset", "smoke", "--set", "rank", results=tmp_path)
    assert result.returncode == 2 and "key=value" in result.stderr
    assert not (tmp_path / "runs").exists(), "nothing may run when the invocation is invalid"


@pytest.mark.parametrize("method", ["lora", "mcnc"])  # LoRA's own rank, and the one of every random-basis method
def test_a_rank_its_setting_does_not_allow_is_a_usage_error_naming_the_valid_values(tmp_path: Path, method: str):
    for value, shown in (("-3", "-3"), ("abc", "'abc'")):
        result = run_cli("run", "--method", method, "--preset", "smoke", "--set", f"rank={value}", results=tmp_path)
        assert result.returncode == 2, result.stderr
        assert f"rank={shown}: {shown} is not allowed: expected an integer ≥ 1" in result.stderr
    assert not (tmp_path / "runs").exists(), "nothing may run when the invocation is invalid"


def test_unsupported_pair_says_why(tmp_path: Path):
    result = run_cli("run", "--method", "linear-probe", "--task", "pydocs", "--preset", "smoke",
                     results=tmp_path, third_party=True)
    if "unknown task 'pydocs'" in result.stderr:
        pytest.skip("pydocs task not installed")
    assert result.returncode == 2
    assert "does not support task 'pydocs': needs an image-classification task" in result.stderr


def test_run_record_cache_and_leaderboard(tmp_path: Path):
    results, boards = tmp_path / "results", tmp_path / "boards"
    result = run_cli("run", "--method", "lora", "linear-probe", "--preset", "smoke", "--seed", "0", "1",
                     results=results, third_party=True)
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    lora = next(r for r in records if r["method"]["name"] == "lora")
    assert set(lora["evaluations"]) == {"compression", "accuracy", "latency", "flops", "reconstruction", "knn",
                                        "linear-probe"}
    assert lora["evaluations"]["reconstruction"]["weights_equal"] is True
    assert lora["hardware"]["kind"] == "cpu" and lora["hardware"]["threads"] >= 1
    assert lora["environment"]["torch"]
    assert (results / "artifacts" / f"{lora['key']}.safetensors").stat().st_size == \
        lora["evaluations"]["compression"]["artifact_bytes"]
    assert "lora" in result.stdout and "linear-probe" in result.stdout  # the summary table

    again = run_cli("run", "--method", "lora", "--preset", "smoke", "--seed", "0", results=results)
    assert again.returncode == 0 and "(cached)" in again.stdout
    assert lora["hardware"]["threads"] == 1  # the tests' OMP_NUM_THREADS, the default
    two = run_cli("run", "--method", "lora", "--preset", "smoke", "--seed", "0", "--threads", "2", results=results)
    assert two.returncode == 0 and "(cached)" not in two.stdout  # other threads, other floats: run again
    on_two = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert sorted(r["hardware"]["threads"] for r in on_two if r["method"]["name"] == "lora") == [1, 1, 2]

    board = run_cli("leaderboard", "--out", str(boards), results=results)
    assert board.returncode == 0, board.stderr
    digits = (boards / "digits.md").read_text()
    assert "| lora " in digits and "| linear-probe " in digits
    assert "±" in digits  # two seeds → mean ± std
    assert "99.0 (made-up figure for the test)" in digits  # the plugin's reported figure beside ours
    assert (boards / "digits-plots" / "smoke-default-storage.png").stat().st_size > 1000
    assert "](digits-plots/smoke-default-storage.png)" in digits
    assert "[digits](digits.md)" in (boards / "README.md").read_text()
    default_out = run_cli("leaderboard", results=results, cwd=tmp_path)  # no --out: ./leaderboards
    assert default_out.returncode == 0, default_out.stderr
    assert "| lora " in (tmp_path / "leaderboards" / "digits.md").read_text()
    assert (tmp_path / "leaderboards" / "README.md").exists()

    shown = run_cli("show", lora["key"][:8], results=results)
    assert shown.returncode == 0 and "weights_equal: True" in shown.stdout
    assert re.search(r"samples_ms: \d+ values \(--json shows them\)", shown.stdout)  # raw samples, counted


def test_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path: Path):
    result = run_cli("run", "--method", "diverge", "linear-probe", "--preset", "smoke",
                     results=tmp_path, third_party=True)
    assert result.returncode == 1
    records = {json.loads(p.read_text())["method"]["name"]: json.loads(p.read_text())
               for p in (tmp_path / "runs").glob("*.json")}
    assert records["diverge"]["status"] == "failed"
    assert "DivergedError" in records["diverge"]["error"] and "nan" in records["diverge"]["error"]
    assert records["linear-probe"]["status"] == "ok"


def test_runs_spread_one_worker_per_device(tmp_path: Path):
    result = run_cli("run", "--method", "linear-probe", "--preset", "smoke", "--seed", "0", "1",
                     "--hardware", "cpu-pair", results=tmp_path, third_party=True)
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert sorted(r["seed"] for r in records) == [0, 1]
    assert len({r["pid"] for r in records}) == 2, "each run should execute in its own device worker"


def _records_by_seed(results: Path) -> dict[int, dict]:
    return {r["seed"]: r for r in (json.loads(p.read_text()) for p in (results / "runs").glob("*.json"))}


def test_a_worker_killed_once_is_replaced_and_its_run_retried(tmp_path: Path):
    """Seed 0's worker is SIGKILLed on its first attempt: the pool breaks, the unfinished runs go
    to a fresh pool, and both seeds end ok."""
    tally = tmp_path / "tally"
    result = run_cli("run", "--method", "crash", "--preset", "smoke", "--seed", "0", "1", "--hardware", "cpu-pair",
                     "--set", f"tally={tally}", "--set", "deaths=1", results=tmp_path / "results", third_party=True)
    assert result.returncode == 0, result.stderr[-2000:]
    records = _records_by_seed(tmp_path / "results")
    assert {seed: r["status"] for seed, r in records.items()} == {0: "ok", 1: "ok"}
    assert int(tally.read_text()) >= 3  # the death, then each seed's successful attempt


def test_a_worker_that_always_dies_fails_its_run_as_infrastructure_after_the_retries(tmp_path: Path):
    """One tally for both seeds and more deaths than attempts: each run dies on every attempt it
    gets, each is recorded failed, never lost, and the command says so."""
    tally = tmp_path / "tally"
    result = run_cli("run", "--method", "crash", "--preset", "smoke", "--seed", "0", "1", "--hardware", "cpu-pair",
                     "--set", f"tally={tally}", "--set", "deaths=100", "--retries", "1", results=tmp_path / "results",
                     third_party=True)
    assert result.returncode == 1, result.stderr[-2000:]
    records = _records_by_seed(tmp_path / "results")
    assert set(records) == {0, 1}
    for record in records.values():
        assert record["status"] == "failed" and record["error"].startswith("infrastructure:")
        assert "worker process died" in record["error"]
    assert int(tally.read_text()) <= 4  # 2 runs × (1 attempt + 1 retry): never retried past --retries


def test_killed_run_leaves_no_half_written_record(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(THIRD_PARTY)}
    command = [str(Path(sys.executable).parent / "ucdbench"), "run", "--method", "sleepy", "--preset", "smoke",
               "--results", str(tmp_path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs.glob("*.json")):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    records = list(runs.glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())  # parses: never half-written
    assert record["status"] == "running" and record["pid"] == process.pid
    board = run_cli("leaderboard", "--out", str(tmp_path / "boards"), results=tmp_path)
    assert board.returncode == 2 and "no successful runs" in board.stderr


@pytest.mark.ucdbench_e2e
def test_bad_settings_are_usage_errors_before_any_run(tmp_path):
    for args, expected in ((["--set", "task.classes=0-99"], "class ids 10, 11"),
                           (["--set", "task.model=resnet"], "expected one of 'vit', 'cnn', 'mlp'"),
                           (["--seed", "-1"], "a seed is an integer ≥ 0"),
                           (["--threads", "0"], "CPU threads ≥ 1"),
                           (["--set", "eval.latency.batch_size=0"], "expected an integer ≥ 1")):
        result = run_cli("run", "--method", "lora", "--preset", "smoke", *args, results=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing started


def test_show_settings_prints_defaults_per_preset_allowed_values_and_help():
    result = run_cli("show-settings", "mnist")
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("patch_size"))
    assert line.split()[1:4] == ["7", "4", "4"] and "an integer ≥ 1" in line and "ViT patch side" in line
    missing = run_cli("show-settings", "mnsit")
    assert missing.returncode == 2 and "Did you mean 'mnist'" in missing.stderr


def test_show_settings_says_which_defaults_follow_the_tasks_model():
    result = run_cli("show-settings", "avit")
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("gate_center"))
    assert "30.0 (task.model=deit_small_patch16_224: 75.0)" in line
