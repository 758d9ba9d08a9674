"""NOLA — compressing LoRA with linear combinations of random bases (ICLR 2024).

ΔW = (alpha / rank) · B A with A = Σ_i a_i A_i (k bases of rank × in) and B = Σ_j b_j B_j
(l bases of out × rank). The bases are U(−1, 1)/√k (resp. /√l), drawn from the seed and never
stored; only a and b train, and the artifact stores a, b and the seed — (k + l) numbers per
adapted matrix. As in the official GPT-2 code the bases are drawn again in the backward pass
instead of being kept (``keep_bases=true`` holds them: (k·rank·in + l·out·rank) floats per
matrix). b starts at 0 so ΔW = 0 at the start; a starts U(−1/√in, 1/√in), A's scale at LoRA's
init.

Modes: ``adapter`` (the paper's): Q and V of GPT-2's attention (slices of the fused ``c_attn``),
fc1 and fc2 of every ViT block (NOLA-MLP), the task head trained dense for new classes.
``scratch`` (MCNC's comparison): every parameter tensor of a randomly initialised network, seen
as a matrix, is its init plus B A.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ucdbench.interfaces import Config, ReportedFigure, UcdbenchError
from ucdbench_plugins.reparam.layouts import LowRankLayout, parameter_slots
from ucdbench_plugins.reparam.method import Code, RandomBasisMethod
from ucdbench_plugins.reparam.seeded import SeededBasis, derive_seed, uniform

PAPER = "NOLA paper (ICLR 2024)"


class NOLACode(Code):
    """a (matrices × k) and b (matrices × l) → each matrix's A and B."""

    uses_initial = False

    def __init__(self, wanted: dict[str, tuple[int, ...]], *, k: int, l: int, keep_bases: bool, seed: int, rng: str,
                 device: torch.device | str) -> None:
        super().__init__()
        if k < 1 or l < 1:
            raise UcdbenchError(f"nola: k and l must be positive (k={k}, l={l})")
        self.matrices = [name[: -len(".A")] for name in wanted if name.endswith(".A")]
        self.shapes = {name: tuple(shape) for name, shape in wanted.items()}
        self.seed, self.rng, self.keep = seed, rng, keep_bases
        self.bases = {}
        for name in self.matrices:
            for factor, count in (("A", k), ("B", l)):
                size = math.prod(self.shapes[f"{name}.{factor}"])
                self.bases[f"{name}.{factor}"] = SeededBasis(derive_seed(seed, name, factor), 1, count, size,
                                                             1 / math.sqrt(count), rng, keep_bases)
        fan_in = torch.tensor([self.shapes[f"{name}.A"][1] for name in self.matrices], dtype=torch.float32, device=device)
        a = uniform((len(self.matrices), k), derive_seed(seed, "a0"), device, rng) / fan_in.sqrt()[:, None]
        self.a = torch.nn.Parameter(a)
        self.b = torch.nn.Parameter(torch.zeros(len(self.matrices), l, device=device))

    def forward(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, name in enumerate(self.matrices):
            for factor, coefficients in (("A", self.a), ("B", self.b)):
                key = f"{name}.{factor}"
                out[key] = self.bases[key].combine(coefficients[i:i + 1]).view(self.shapes[key])
        return out

    def stored(self) -> dict[str, torch.Tensor]:
        return {"a": self.a, "b": self.b}

    def spec(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self.rng, "k": self.a.shape[1], "l": self.b.shape[1],
                "matrices": len(self.matrices), "keep_bases": self.keep}

    @classmethod
    def from_spec(cls, spec, wanted, initial, device):
        return cls(wanted, k=spec["k"], l=spec["l"], keep_bases=False, seed=spec["seed"], rng=spec["rng"], device=device)


class NOLA(RandomBasisMethod):
    name = "nola"
    code_class = NOLACode
    reported = (
        ReportedFigure("e2e", "BLEU", 70.1, "GPT-2 L, Q and V, k = l = 256, rank 8: 0.036M params", f"{PAPER}, Table 1"),
        ReportedFigure("e2e", "BLEU", 70.5, "GPT-2 L, 0.144M params", f"{PAPER}, Table 1"),
        ReportedFigure("imagenet", "top1", 63.34, "ImageNet-100, ResNet-18 at 1% size (from scratch)",
                       "MCNC paper (ICLR 2025), Table 1"),
    )

    @classmethod
    def defaults(cls, preset: str) -> Config:
        return {
            **cls.shared_defaults(preset, mode="adapter"),
            "k": {"smoke": 32, "small": 64, "paper": 256}[preset],
            "l": {"smoke": 32, "small": 64, "paper": 256}[preset],
            "keep_bases": False,
            "lr": {"smoke": 1e-2, "small": 5e-3, "paper": 5e-3}[preset],
        }

    def scratch_layout(self, network, config: Config) -> LowRankLayout:
        return LowRankLayout(parameter_slots(network), config["rank"], config["alpha"])

    def make_code(self, wanted, initial, config: Config, seed: int, rng: str, device: torch.device) -> NOLACode:
        return NOLACode(wanted, k=config["k"], l=config["l"], keep_bases=config["keep_bases"], seed=seed, rng=rng,
                        device=device)
