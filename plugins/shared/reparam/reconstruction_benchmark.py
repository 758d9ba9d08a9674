"""Time artifact → weights for MCNC, NOLA and PRANC at equal stored scalars on the same shapes.

    python -m ucdbench_plugins.shared.reparam.reconstruction_benchmark                  # cpu, and cuda if visible
    python -m ucdbench_plugins.shared.reparam.reconstruction_benchmark --hardware cpu --repeats 5

Two target sets, built on the meta device (nothing downloaded, nothing allocated but what is
generated):

- ``gpt2-large Q,V adapters``: rank-8 adapters on the Q and V slices of GPT-2 Large's 36 fused
  attention projections, at NOLA's budget of 36,864 stored scalars (k = l = 256). MCNC and
  PRANC generate the same 1,474,560 LoRA factor values from the same budget; what is timed is
  artifact tensors + seed → the A and B factors of every layer (the adapter weights).
- ``resnet18 from scratch``: every weight of timm's ResNet-18 (11.7M) at 1% stored scalars;
  what is timed is artifact + seed → the dense weights (θ0 + offsets; NOLA's θ0 + B A per conv
  and linear layer; PRANC's combination of random networks on the conv and linear layers, θ0
  among them; NOLA and PRANC store BatchNorm dense).

Each rebuild starts from the artifact's tensors (coefficients drawn at random: the values do
not change the cost) and is timed by the hardware plugin's ``time_call`` (synchronised; CUDA
events on GPUs), median of ``--repeats`` after one warm-up. The table gives the random numbers
each method draws per rebuild and its time relative to MCNC's.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ucdbench.api import load_registry
from ucdbench_plugins.shared.reparam.layouts import (CombinationLayout, DirectLayout, LayerLowRankLayout, LowRankLayout,
                                                     adapter_slots)
from ucdbench_plugins.shared.reparam.method import Code


@dataclass
class Case:
    method: str
    target: str
    layout: DirectLayout | LowRankLayout
    code: Callable[[torch.device], Code]
    base_shapes: dict[str, tuple[int, ...]] | None
    """Shapes of the weights the generated tensors are added into (full models), or None to stop
    at the generated tensors (the adapter factors)."""


def _gpt2_large():
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config(n_embd=1280, n_layer=36, n_head=20))


def _resnet18():
    import timm

    with torch.device("meta"):
        return timm.create_model("resnet18", pretrained=False)


def _rng(device: torch.device) -> str:
    return "cuda" if device.type == "cuda" else "cpu"


def _code_classes() -> dict[str, type[Code]]:
    """Each method's code class, found through the registry (this shared module imports no
    plugin's package)."""
    registry = load_registry()
    return {name: registry.load("method", name).code_class for name in ("mcnc", "nola", "pranc")}


def cases(budget_percent: float) -> list[Case]:
    """Equal stored scalars per target set; each method's own hyperparameters chosen to hit it."""
    codes = _code_classes()
    MCNCCode, NOLACode, PRANCCode = codes["mcnc"], codes["nola"], codes["pranc"]  # noqa: N806
    out = []
    adapters = LowRankLayout(adapter_slots(_gpt2_large(), ["q", "v"]), rank=8, alpha=16.0)
    wanted = adapters.wanted()
    factors = sum(math.prod(s) for s in wanted.values())
    budget = len(adapters.slots) * 512  # NOLA k = l = 256: 36,864
    target = f"gpt2-large Q,V rank-8 adapters ({factors:,} values)"
    out.append(Case("nola", target, adapters, lambda d: NOLACode(wanted, k=256, l=256, keep_bases=False, seed=0,
                                                               rng=_rng(d), device=d), None))
    mcnc_chunk = -(-factors // (budget // 10))  # k = 9: 10 stored values per chunk
    pranc_chunk = -(-factors // (budget // 256))  # 256 bases per chunk
    out.append(Case("mcnc", target, adapters, lambda d: MCNCCode(
        wanted, adapters.initial(0, d, _rng(d)), k=9, d=mcnc_chunk, width=64, depth=2, frequency=30.0,
        activation="sine", alpha_range=1.0, seed=0, rng=_rng(d), device=d), None))
    out.append(Case("pranc", target, adapters, lambda d: PRANCCode(
        wanted, adapters.initial(0, d, _rng(d)), bases=256, chunk_size=pranc_chunk, keep_bases=False, seed=0,
        rng=_rng(d), device=d), None))

    network = _resnet18()
    shapes = {name: tuple(p.shape) for name, p in network.named_parameters()}
    params = sum(p.numel() for p in network.parameters())
    full_budget = int(params * budget_percent / 100)
    full_target = f"resnet18 from scratch ({params:,} weights, {budget_percent:g}%)"
    direct = DirectLayout(network)
    full = direct.wanted()
    mcnc_chunk_full, pranc_chunk_full = -(-params // (full_budget // 10)), -(-params // (full_budget // 100))
    out.append(Case("mcnc", full_target, direct, lambda d: MCNCCode(
        full, None, k=9, d=mcnc_chunk_full, width=64, depth=2, frequency=30.0, activation="sine",
        alpha_range=1.0, seed=0, rng=_rng(d), device=d), shapes))
    combination = CombinationLayout(network)  # PRANC combines conv/linear layers; BatchNorm is stored dense
    out.append(Case("pranc", full_target, combination, lambda d: PRANCCode(
        combination.wanted(), None, bases=100, chunk_size=pranc_chunk_full, keep_bases=False, seed=0, rng=_rng(d),
        device=d), shapes))
    lowrank = LayerLowRankLayout.of(network, rank=4, alpha=4.0)  # NOLA from scratch: BatchNorm is stored dense
    per_layer = full_budget // len(lowrank.slots)
    out.append(Case("nola", full_target, lowrank, lambda d: NOLACode(
        lowrank.wanted(), k=per_layer // 2, l=per_layer - per_layer // 2, keep_bases=False, seed=0, rng=_rng(d),
        device=d), shapes))
    return out


def _random_values(code: Code, layout: DirectLayout | LowRankLayout) -> int:
    """Random numbers one rebuild draws (bases, NOLA's base terms, generator weights, LoRA's init of A)."""
    drawn = sum(basis.random_values for basis in getattr(code, "bases", {}).values())
    drawn += sum(term.numel() for term in getattr(code, "base_terms", {}).values())
    if hasattr(code, "basis"):  # PRANC
        drawn += code.basis.random_values
    if hasattr(code, "generator"):  # MCNC
        drawn += sum(b.numel() for b in code.generator.buffers())
    if code.uses_initial and isinstance(layout, LowRankLayout):
        drawn += sum(layout.rank * slot.in_features for slot in layout.slots)
    return drawn


def measure(case: Case, hardware, device: torch.device, repeats: int) -> dict[str, float]:
    trained = case.code(device)
    tensors, spec = {k: torch.randn_like(v) for k, v in trained.stored().items()}, trained.spec()
    base = None if case.base_shapes is None else {n: torch.zeros(s, device=device) for n, s in case.base_shapes.items()}
    wanted, uses_initial = case.layout.wanted(), type(trained).uses_initial

    def rebuild():
        with torch.no_grad():
            initial = case.layout.initial(spec["seed"], device, spec["rng"]) if uses_initial else None
            generated = type(trained).rebuild(spec, tensors, wanted, initial, device)()
            return generated if base is None else case.layout.compose(generated, base)

    rebuild()
    times = [hardware.time_call(rebuild, device) for _ in range(repeats)]
    return {"stored": sum(t.numel() for t in tensors.values()), "random": _random_values(trained, case.layout),
            "ms": 1000 * statistics.median(times)}


def main(argv: list[str] | None = None) -> None:
    from tabulate import tabulate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hardware", nargs="+", default=None, help="hardware plugins (default: cpu, and cuda if visible)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget-percent", type=float, default=1.0, help="stored scalars of the full model, in %%")
    args = parser.parse_args(argv)
    registry = load_registry()
    names = args.hardware or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    all_cases = cases(args.budget_percent)
    for name in names:
        hardware = registry.get("hardware", name).load()()
        reason = hardware.unavailable_reason()
        if reason:
            print(f"{name}: skipped ({reason})")
            continue
        device = torch.device(hardware.devices()[0])
        described = hardware.describe(str(device))
        print(f"\n{name}: {described.get('name')} (torch threads {torch.get_num_threads()}), "
              f"median of {args.repeats} after a warm-up")
        rows = []
        for target in dict.fromkeys(c.target for c in all_cases):
            results = {c.method: measure(c, hardware, device, args.repeats) for c in all_cases if c.target == target}
            for method, r in results.items():
                rows.append([target, method, f"{r['stored']:,}", f"{r['random']:,}", f"{r['ms']:.1f}",
                             f"{r['ms'] / results['mcnc']['ms']:.1f}×"])
        print(tabulate(rows, headers=["target", "method", "stored scalars", "random numbers drawn", "rebuild ms",
                                      "time / MCNC's"]))


if __name__ == "__main__":
    main()
