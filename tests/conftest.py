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


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One UCDBENCH_CACHE for every worker of the session, so base models pretrain once
    (writes are atomic, so concurrent workers at worst compute an entry twice)."""
    root = tmp_path_factory.getbasetemp()
    cache = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "ucdbench-cache"
    cache.mkdir(exist_ok=True)
    os.environ["UCDBENCH_CACHE"] = str(cache)
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
