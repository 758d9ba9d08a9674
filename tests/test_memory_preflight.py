"""Runs whose declared settings cannot fit the device's memory are refused before they start, and
the bounded paths (PRANC's bases drawn in blocks, kNN's blocks) hold no more than they declare."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import torch

from tensor_probe import LargestOutput
from ucdbench.api import MemoryNeed
from ucdbench.running.memory import memory_refusal
from ucdbench.discovery.registry import load_registry
from ucdbench.running.runner import RunSpec, resolve
from ucdbench_plugins.hardware.cpu import CPU
from ucdbench_plugins.shared.reparam.seeded import SeededBasis
from ucdbench_plugins.shared.representation import knn_predict, search_block_bytes


def test_a_pranc_run_that_cannot_fit_exits_2_before_it_starts_naming_the_estimate_and_the_setting(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = tmp_path / "results"
    command = [sys.executable, "-m", "ucdbench.cli", "run", "--method", "pranc", "--preset", "smoke",
               "--results", str(results), "--set", "chunk_size=100000", "--set", "bases=1000000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    # 1 chunk × 10⁶ bases × 10⁵ values × 4 bytes, whatever this machine's memory
    assert "373 GiB" in result.stderr and "--set keep_bases" in result.stderr and "available" in result.stderr
    assert not list(Path(results).rglob("*.json"))  # no run started: nothing recorded
    result = subprocess.run([*command, "--set", "keep_bases=false"], capture_output=True, text=True, timeout=300,
                            env=env, cwd=tmp_path)
    assert result.returncode == 2 and "--set bases_per_draw" in result.stderr


def test_the_refusal_adds_up_one_plugins_needs_against_the_hardwares_memory():
    overrides = {"chunk_size": 1000, "bases": 50, "keep_bases": False, "eval.knn.query_block": 8,
                 "eval.knn.bank_block": 64}
    run = resolve(load_registry(), RunSpec("pranc", "digits", "smoke", 0, "cpu", overrides))
    need = 2 * 4 * 50 * 1000  # two draws of the chunk's 50 bases, the largest plugin's need

    def hardware(memory):
        return types.SimpleNamespace(memory_bytes=lambda device: memory)

    assert memory_refusal(run, hardware(None), "cpu") is None  # unknown memory: nothing refused
    assert memory_refusal(run, hardware(need), "cpu") is None
    reason = memory_refusal(run, hardware(need - 1), "cpu")
    assert "method 'pranc'" in reason and f"{need / 2**30:.3g} GiB" in reason and "--set bases_per_draw" in reason
    knn = search_block_bytes(8, 64, 20)
    assert knn < need
    reason = memory_refusal(run, hardware(knn - 1), "cpu")
    assert "method 'pranc'" in reason  # the first plugin that cannot fit
    run = resolve(load_registry(), RunSpec("pranc", "digits", "smoke", 0, "cpu", {**overrides, "bases_per_draw": 1}))
    reason = memory_refusal(run, hardware(knn - 1), "cpu")
    assert "evaluation 'knn'" in reason and "--set eval.knn.bank_block" in reason


def test_the_cpu_reports_the_memory_available_now():
    available = CPU().memory_bytes("cpu")
    assert isinstance(available, int) and 0 < available <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_bases_drawn_in_blocks_are_the_whole_draw_and_a_draw_holds_no_more_than_its_block():
    coefficients = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    results = {}
    for draw, keep in ((0, True), (0, False), (7, False), (7, True)):
        basis = SeededBasis(seed=4, rows=3, count=40, size=501, scale=0.3, keep=keep, draw=draw)
        c = coefficients.clone().requires_grad_(True)
        with LargestOutput() as probe:
            out = basis.combine(c)
            (out * torch.linspace(-1, 1, 501)).sum().backward()
        results[draw, keep] = out.detach(), c.grad, probe.largest_bytes, basis.draw_bytes
    whole, blocked = results[0, True], results[7, False]
    assert torch.equal(results[0, False][0], whole[0]) and torch.equal(results[7, True][0], blocked[0])
    torch.testing.assert_close(blocked[0], whole[0], rtol=1e-5, atol=1e-6)  # the same numbers, summed by block
    torch.testing.assert_close(blocked[1], whole[1], rtol=1e-5, atol=1e-6)
    assert blocked[2] <= blocked[3] == 4 * 7 * 501 < whole[3]  # one block of 7 bases at a time


def test_the_declared_knn_need_bounds_what_its_blocked_search_holds():
    generator = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(3000, 8, generator=generator), torch.randn(200, 8, generator=generator)
    labels = torch.randint(0, 10, (3000,), generator=generator)
    query_block, bank_block = 32, 256
    with LargestOutput() as probe:
        # the normalised inputs are the data's, not the search's: normalise them before probing
        knn_predict(torch.nn.functional.normalize(bank, dim=1), labels, queries, 20, query_block=query_block,
                    bank_block=bank_block)
    assert probe.largest_bytes <= max(bank.nbytes, search_block_bytes(query_block, bank_block, 20))
    assert search_block_bytes(query_block, bank_block, 20) < 4 * len(queries) * len(bank)


def test_memory_needs_are_public_and_default_to_nothing():
    from ucdbench.api import Evaluation, Method

    assert MemoryNeed(1, "x", "y").setting == "y"
    assert Method.memory_needs(None, None, {}) == () and Evaluation.memory_needs(None, None, {}) == ()
