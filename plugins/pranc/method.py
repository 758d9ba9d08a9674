"""PRANC — Pseudo RAndom Networks for Compacting deep models (ICCV 2023), the linear baseline
of MCNC and NOLA.

The whole network is its seeded initialisation plus a linear combination of ``bases`` random
networks, θ = θ0 + Σ_j c_j · r_j, the r_j drawn from the seed and never stored; only the c_j
train and are stored (c starts at 0, so training starts from θ0). For networks too large for
one basis set, ``chunk_size`` cuts the parameter vector into chunks with ``bases`` random
vectors each (stored scalars = chunks × bases); 0 keeps one set for the whole network, as the
paper does for small models.

``keep_bases`` holds the drawn bases in memory (``parameters × bases`` floats: 4 bytes ×
63k × 100 ≈ 25 MB for the mnist MLP) instead of drawing them again in every forward and
backward pass; both give the same numbers. Bases are U(−1, 1)/√bases.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ucdbench.interfaces import Config, ReportedFigure, UcdbenchError
from ucdbench_plugins.reparam.method import FlatCode, RandomBasisMethod
from ucdbench_plugins.reparam.seeded import SeededBasis


class PRANCCode(FlatCode):
    """Coefficients (chunks × bases) → flat offsets Σ_j c_j r_j per chunk."""

    def __init__(self, wanted, initial, *, bases: int, chunk_size: int, keep_bases: bool, seed: int, rng: str,
                 device: torch.device | str) -> None:
        super().__init__(wanted, initial)
        if bases < 1 or chunk_size < 0:
            raise UcdbenchError(f"pranc: bases must be ≥ 1 and chunk_size ≥ 0 (got {bases}, {chunk_size})")
        self.chunk = chunk_size or self.total
        self.chunks = -(-self.total // self.chunk)
        self.seed, self.rng, self.keep = seed, rng, keep_bases
        self.basis = SeededBasis(seed, self.chunks, bases, self.chunk, 1 / math.sqrt(bases), rng, keep_bases)
        self.coefficients = torch.nn.Parameter(torch.zeros(self.chunks, bases, device=device))

    def offsets(self) -> torch.Tensor:
        return self.basis.combine(self.coefficients).reshape(-1)[: self.total]

    def stored(self) -> dict[str, torch.Tensor]:
        return {"coefficients": self.coefficients}

    def spec(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self.rng, "bases": self.basis.count, "chunk_size": self.chunk,
                "chunks": self.chunks, "keep_bases": self.keep}

    @classmethod
    def from_spec(cls, spec, wanted, initial, device):
        return cls(wanted, initial, bases=spec["bases"], chunk_size=spec["chunk_size"], keep_bases=False,
                   seed=spec["seed"], rng=spec["rng"], device=device)


class PRANC(RandomBasisMethod):
    name = "pranc"
    code_class = PRANCCode
    reported = (
        ReportedFigure("imagenet", "top1", 63.31, "ImageNet-100, ResNet-18 at 1% size", "MCNC paper (ICLR 2025), Table 1"),
    )

    @classmethod
    def defaults(cls, preset: str) -> Config:
        return {
            **cls.shared_defaults(preset, mode="scratch"),
            "bases": {"smoke": 50, "small": 100, "paper": 10_000}[preset],
            "chunk_size": {"smoke": 0, "small": 0, "paper": 500_000}[preset],
            "keep_bases": True,
            "lr": {"smoke": 3e-2, "small": 3e-2, "paper": 1e-3}[preset],
        }

    def make_code(self, wanted, initial, config: Config, seed: int, rng: str, device: torch.device) -> PRANCCode:
        return PRANCCode(wanted, initial, bases=config["bases"], chunk_size=config["chunk_size"],
                         keep_bases=config["keep_bases"], seed=seed, rng=rng, device=device)
