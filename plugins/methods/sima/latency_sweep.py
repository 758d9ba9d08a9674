"""Latency against sequence length: SimA attention vs torch SDPA softmax attention.

At a fixed width, softmax attention costs O(N² d_h) while SimA, reassociated as q (kᵀ v) once
N > d_h, costs O(N d_h²): its time should grow linearly in N past d_h. Each point is timed by
the chosen Hardware plugin's ``time_call`` (synchronised; CUDA events on GPUs) over repeats
after a warm-up, and given as the mean ± its 95% confidence interval over the repeats
(``ucdbench.api.mean_ci``); FLOPs per call come from the harness's ``count_flops`` and energy per
call from the hardware's meter where it has one (NVML on GPUs). The sweep holds the machine lock
(``ucdbench.api.timed_phase``) as ``ucdbench run``'s timed measurements do, and the page names
the project commit, the command, how much of its cores the sweep had (process CPU time over wall
time, as the leaderboards' timing tables give it) and the machine's load when it began and ended.

    python -m ucdbench_plugins.methods.sima.latency_sweep --hardware cpu --out leaderboards

writes ``sima_latency_<hardware>.md`` (table) and ``sima_latency_<hardware>.png`` (plot); the
leaderboard index links every such page beside it.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ucdbench.api import Hardware, count_flops, mean_ci
from ucdbench_plugins.methods.sima.attention import sima_attention

LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


def time_attention(hardware: Hardware, device: torch.device, fn: Callable[[], Any], repeats: int,
                   warmup: int) -> dict[str, Any]:
    """Milliseconds per call over the timed repeats (``ms``: their mean ± 95% CI, n = repeats),
    and joules per call where metered."""
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        hardware.synchronize(device)
        meter = hardware.energy_meter(device)
        before = meter.joules() if meter is not None else None
        times = [hardware.time_call(fn, device) for _ in range(repeats)]
        hardware.synchronize(device)
    result: dict[str, Any] = {"ms": mean_ci([1000 * t for t in times])}
    if meter is not None:
        result["joules"] = (meter.joules() - before) / repeats
    return result


def sweep(hardware: Hardware, device: torch.device, lengths=LENGTHS, width: int = 64, heads: int = 1,
          batch: int = 1, repeats: int = 10, warmup: int = 1) -> list[dict[str, Any]]:
    """One row per sequence length: times (mean, CI half-width, repeats), FLOPs and the SimA order used."""
    head_dim = width // heads
    rows = []
    for n in lengths:
        generator = torch.Generator().manual_seed(n)
        q, k, v = (torch.randn(batch, heads, n, head_dim, generator=generator).to(device) for _ in range(3))
        candidates = {"sima": lambda: sima_attention(q, k, v), "sdpa": lambda: F.scaled_dot_product_attention(q, k, v)}
        row: dict[str, Any] = {"tokens": n, "head_dim": head_dim, "heads": heads, "batch": batch,
                               "sima_order": "q(kᵀv)" if n > head_dim else "(qkᵀ)v"}
        for name, fn in candidates.items():
            timed = time_attention(hardware, device, fn, repeats, warmup)
            row[f"{name}_ms"], row[f"{name}_ms_ci"], row["repeats"] = timed["ms"].mean, timed["ms"].half_width, timed["ms"].n
            row[f"{name}_gflops"] = count_flops(fn)["flops"] / 1e9
            if "joules" in timed:
                row[f"{name}_mj"] = 1000 * timed["joules"]
        row["speedup"] = row["sdpa_ms"] / row["sima_ms"]
        rows.append(row)
    return rows


def _interval(mean: float, half_width: float | None) -> str:
    """``mean ± half-width``: the mean to the microsecond, the half-width to two significant digits
    (170, not 1.7e+02)."""
    if half_width is None:
        return f"{mean:.3f}"
    digits = 2 - math.floor(math.log10(half_width)) - 1 if half_width > 0 else 0
    return f"{mean:.3f} ± {round(half_width, digits):,.{max(digits, 0)}f}"


def markdown(rows: list[dict[str, Any]], description: dict[str, Any], threads: int, commit: str | None,
             command: str, conditions: str) -> str:
    """The page: the table, and what produced it (``commit``, ``command``, the machine's ``conditions``)."""
    energy = "sima_mj" in rows[0]
    header = ["tokens N", "SimA order", "SimA ms", "SDPA ms", "speed-up", "SimA GFLOPs", "SDPA GFLOPs"]
    if energy:
        header += ["SimA mJ", "SDPA mJ"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [f"{r['tokens']:,}", r["sima_order"], _interval(r["sima_ms"], r["sima_ms_ci"]),
                 _interval(r["sdpa_ms"], r["sdpa_ms_ci"]), f"{r['speedup']:.1f}×", f"{r['sima_gflops']:.4g}",
                 f"{r['sdpa_gflops']:.4g}"]
        if energy:
            cells += [f"{r['sima_mj']:.3f}", f"{r['sdpa_mj']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    first = rows[0]
    return "\n".join([
        "# SimA vs softmax attention: latency against sequence length",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from project commit `{commit or 'unknown'}` by "
        f"`{command}`.",
        "",
        f"Hardware: {description.get('name', '?')} ({description.get('kind', '?')}), torch threads {threads}. "
        f"Batch {first['batch']}, {first['heads']} head(s) of d_h = {first['head_dim']}. Each time is the mean over "
        f"n = {first['repeats']} timed repeats after a warm-up ± the half-width of its 95% confidence interval "
        "(t distribution), each repeat timed by the hardware plugin's `time_call`; the speed-up is the ratio of the "
        "means. SDPA is `torch.nn.functional.scaled_dot_product_attention` (softmax); SimA picks (qkᵀ)v for "
        "N ≤ d_h and q(kᵀv) above. GFLOPs from FlopCounterMode (2 × multiply-adds).",
        "",
        conditions,
        "",
        *lines,
        "",
    ])


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens = [r["tokens"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, label, marker in (("sdpa", "softmax (SDPA)", "o-"), ("sima", "SimA", "s-")):
        ax.errorbar(tokens, [r[f"{name}_ms"] for r in rows], yerr=[r[f"{name}_ms_ci"] or 0 for r in rows],
                    fmt=marker, capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(rows[0]["head_dim"], color="grey", linestyle=":", label="N = d_h")
    ax.set_xlabel("tokens N")
    ax.set_ylabel(f"ms per call (mean ± 95% CI, n = {rows[0]['repeats']})")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def _conditions(load_before: str, load_after: str, share: float | None, threads: int) -> str:
    """What held on the machine while timing: the lock's guarantee, how much of its cores the
    sweep had (process CPU time over wall time × threads, as the leaderboards' timing tables
    give it: below 95%, another process held them), and the load when it began and ended."""
    had = (f"the sweep's process had {min(share, 1.0):.1%} of its {threads} core(s) while it timed (process CPU time "
           "÷ (wall time × threads); below 95%, another process held them)" if share is not None
           else "this hardware has no work clock, so how much of its cores the sweep had is not known")
    return ("Timed holding the machine lock exclusively (`ucdbench.api.timed_phase`): no ucdbench work sharing its lock "
            f"folder ran on the machine meanwhile; other processes were not held off, and {had}. 1-minute load "
            f"average when the sweep began: {load_before}, when it ended: {load_after}, on {os.cpu_count()} CPUs.")


def main(argv: list[str] | None = None) -> None:
    from ucdbench.api import git_commit, load_registry, timed_phase

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hardware", default="cpu")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.add_argument("--out", type=Path, default=Path("leaderboards"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    hardware = load_registry().load("hardware", args.hardware)()
    reason = hardware.unavailable_reason()
    if reason:
        raise SystemExit(f"hardware {args.hardware!r} is unavailable: {reason}")
    device_name = hardware.devices()[0]
    with timed_phase():
        load_before, wall, work = _load(), time.perf_counter(), hardware.work_seconds()
        rows = sweep(hardware, torch.device(device_name), args.lengths, args.width, args.heads, args.batch,
                     args.repeats)
        share = (None if work is None else
                 (hardware.work_seconds() - work) / ((time.perf_counter() - wall) * torch.get_num_threads()))
        conditions = _conditions(load_before, _load(), share, torch.get_num_threads())
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"sima_latency_{args.hardware}"
    command = shlex.join(["python", "-m", "ucdbench_plugins.methods.sima.latency_sweep",
                          *(sys.argv[1:] if argv is None else argv)])
    stem.with_suffix(".md").write_text(markdown(rows, hardware.describe(device_name), torch.get_num_threads(),
                                                git_commit(), command, conditions))
    plot(rows, stem.with_suffix(".png"), f"SimA vs softmax attention ({args.hardware}, d_h = {rows[0]['head_dim']})")
    for r in rows:
        print(f"N={r['tokens']:>6}  SimA {_interval(r['sima_ms'], r['sima_ms_ci']):>16} ms  "
              f"SDPA {_interval(r['sdpa_ms'], r['sdpa_ms_ci']):>18} ms  speed-up {r['speedup']:7.1f}x")
    print(f"wrote {stem}.md and {stem}.png")


if __name__ == "__main__":
    main()
