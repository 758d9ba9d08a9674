"""Shared fixtures. Offline, one torch thread per xdist worker, one model cache per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THIRD_PARTY = Path(__file__).parent / "third_party"

# Without these a hub lookup hangs ~25 s before failing; nothing in the suite may reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
# Two cores shared by xdist workers: more threads per worker only adds contention.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _isolate_from_installed_plugins() -> None:
    """The suite tests ucdbench and its own fixtures, not whatever else is installed beside it:
    every third-party plugin visible when the session starts is disabled, and the caller's allow
    lists are dropped, in the environment that in-process registries and every subprocess read.
    So a broken or colliding package installed beside ucdbench cannot turn a test red, while the
    fake distributions under tests/third_party, which tests put on the path themselves, still
    load. (A third-party entry point named like a built-in cannot be told apart by name: it
    would disable the built-in too.)"""
    from importlib.metadata import distribution, entry_points

    builtin = {ep.name for ep in distribution("ucdbench").entry_points.select(group="ucdbench")}
    installed = {ep.name for ep in entry_points(group="ucdbench")} - builtin
    for variable in ("UCDBENCH_PLUGINS", "UCDBENCH_DISABLE_PLUGIN_AUTOLOAD", "UCDBENCH_DISABLE_PLUGINS"):
        os.environ.pop(variable, None)
    if installed:
        os.environ["UCDBENCH_DISABLE_PLUGINS"] = ",".join(sorted(installed))


_isolate_from_installed_plugins()


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One UCDBENCH_CACHE for every worker of the session, so base models pretrain once
    (writes are atomic, so concurrent workers at worst compute an entry twice)."""
    root = tmp_path_factory.getbasetemp()
    cache = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "ucdbench-cache"
    cache.mkdir(exist_ok=True)
    os.environ["UCDBENCH_CACHE"] = str(cache)
    # Each worker its own machine lock (ucdbench.running.machine_lock): the suite compares no timings, and
    # workers waiting for each other's fits before every latency measurement would only slow it.
    os.environ["UCDBENCH_LOCK_DIR"] = str(root / "machine-lock")
    import torch

    torch.set_num_threads(1)
    return cache


def run_cli(*args: str, results: Path | None = None, third_party: bool = False, timeout: float = 300,
            env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``ucdbench ARGS`` in a subprocess, as a user would run it."""
    full_env = {**os.environ, **(env or {})}
    if third_party:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(THIRD_PARTY), full_env.get("PYTHONPATH")]))
    command = [str(Path(sys.executable).parent / "ucdbench"), *args]  # the installed console script
    if results is not None and args and args[0] in ("run", "leaderboard", "show", "publish"):
        command += ["--results", str(results)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)


@pytest.fixture
def edited(monkeypatch):
    """``edited(module)``: from now on ``module``'s source reads as if a line were added to it, so
    code fingerprints (:mod:`ucdbench.running.fingerprint`) see an edit of that module and of nothing else."""
    from ucdbench.running import fingerprint

    real = fingerprint._source.__wrapped__

    def edit(module: str) -> None:
        def source(name: str):
            found = real(name)
            if name == module and found is not None:
                return found[0], found[1] + b"\n# an edit\n"
            return found

        monkeypatch.setattr(fingerprint, "_source", source)
        fingerprint.clear()

    yield edit
    fingerprint.clear()
