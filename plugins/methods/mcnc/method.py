"""MCNC — Manifold-Constrained reparameterisation for Neural Compression (ICLR 2025).

The trained parameters (a whole network, or LoRA-style adapter factors) are concatenated and
cut into chunks of ``d`` values. Chunk ``i`` is θ0_i + β_i · φ(α_i): α_i ∈ R^k and the scalar
amplitude β_i are all that trains and all that is stored; φ is a frozen MLP with sine
activations, drawn from the seed (never stored) and shared by every chunk, whose output is
normalised onto the unit sphere S^{d−1}. So each chunk moves on a k-dimensional manifold
wrapped around the sphere, scaled by its amplitude.

φ: k → width (× depth hidden layers) → d. The first layer is sin(ω · (W α + b)) with the input
frequency ω (``frequency``), later ones sin(W h + b) (SIREN's initialisation), the last is
linear, then ``φ / ‖φ‖``. ``activation=none`` drops the sines — a linear random map, which
the paper's ablation shows behaves like PRANC. α starts uniform in [−L, L] (``alpha_range``),
β at 0, so training starts from θ0.

Reconstruction draws φ's weights from the seed (width·(k + d + width·(depth−1)) numbers) and
runs one batched forward over the chunks — far fewer random numbers than a linear basis of
the same reach, which is the paper's speed claim.

MCNC has no official code (UCDvision/MCNC is not public, and no other release was found). This
implementation follows the method as the paper (arXiv 2406.19301, ICLR 2025) states it in its
abstract and method description: the chunked reparameterisation θ_i = θ0_i + β_i · φ(α_i), φ a
frozen, seeded feed-forward generator with sine activations whose output is normalised onto
S^{d−1}, α and β the only trained and stored values, and the ablation's linear (no activation)
generator. What that description leaves open — φ's width and depth, the input frequency ω
(SIREN's 30), SIREN's initialisation, α's start in [−L, L], β starting at 0 — is this
harness's choice. The paper's tables could not be read in any reachable source either, so
MCNC declares no reported figure.

Presets: ``paper`` stores 1% of the generated parameters (the "1% size" of the paper's
ImageNet-100 ResNet-18 comparison): k = 9 (the paper's k ≈ 5–9) and d = 1,000, so each chunk of
1,000 values stores k + 1 = 10 numbers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ucdbench.api import Config, PerPreset, Setting
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.reparam.method import FlatCode, RandomBasisMethod, random_basis_settings
from ucdbench_plugins.shared.reparam.seeded import derive_seed, uniform

ACTIVATIONS = ("sine", "none")


class SineGenerator(torch.nn.Module):
    """φ: R^k → S^{d−1}, frozen, its weights drawn from ``seed``."""

    def __init__(self, k: int, d: int, width: int, depth: int, frequency: float, activation: str, seed: int,
                 rng: str, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.frequency, self.activation = frequency, activation
        dims = [k] + [width] * depth + [d]
        self.layers = len(dims) - 1
        for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in)
            weight = uniform((fan_out, fan_in), derive_seed(seed, "phi", i, "weight"), device, rng) * bound
            self.register_buffer(f"weight{i}", weight)
            if i < self.layers - 1:
                bias = uniform((fan_out,), derive_seed(seed, "phi", i, "bias"), device, rng) / math.sqrt(fan_in)
                self.register_buffer(f"bias{i}", bias)

    def forward(self, alpha: torch.Tensor) -> torch.Tensor:
        h = alpha
        for i in range(self.layers - 1):
            h = F.linear(h, getattr(self, f"weight{i}"), getattr(self, f"bias{i}"))
            if self.activation == "sine":
                h = torch.sin(self.frequency * h if i == 0 else h)
        return F.normalize(F.linear(h, getattr(self, f"weight{self.layers - 1}")), dim=-1)


class MCNCCode(FlatCode):
    """α (chunks × k) and β (chunks) → the flat offsets β_i · φ(α_i), cut to the wanted size."""

    def __init__(self, wanted, initial, *, k: int, d: int, width: int, depth: int, frequency: float,
                 activation: str, alpha_range: float, seed: int, rng: str, device: torch.device | str) -> None:
        super().__init__(wanted, initial)
        self.settings = dict(k=k, d=d, width=width, depth=depth, frequency=frequency, activation=activation,
                             alpha_range=alpha_range)
        self.seed, self.rng = seed, rng
        self.chunks = -(-self.total // d)
        self.generator = SineGenerator(k, d, width, depth, frequency, activation, seed, rng, device)
        alpha = uniform((self.chunks, k), derive_seed(seed, "alpha0"), device, rng) * alpha_range
        self.alpha = torch.nn.Parameter(alpha)
        self.beta = torch.nn.Parameter(torch.zeros(self.chunks, device=device))

    def offsets(self) -> torch.Tensor:
        return (self.beta[:, None] * self.generator(self.alpha)).reshape(-1)[: self.total]

    def stored(self) -> dict[str, torch.Tensor]:
        return {"alpha": self.alpha, "beta": self.beta}

    def spec(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self.rng, "chunks": self.chunks, **self.settings}

    @classmethod
    def from_spec(cls, spec, wanted, initial, device):
        settings = {k: spec[k] for k in ("k", "d", "width", "depth", "frequency", "activation", "alpha_range")}
        return cls(wanted, initial, seed=spec["seed"], rng=spec["rng"], device=device, **settings)


class MCNC(RandomBasisMethod):
    name = "mcnc"
    family = "weight compression"
    paper = papers.MCNC
    reported_unavailable = ("MCNC (ICLR 2025): no table reachable: UCDvision/MCNC is not reachable here, no other "
                            "official repository was found, and the stored full text could be read only at its "
                            "opening")
    code_class = MCNCCode
    settings = {
        **random_basis_settings(mode="scratch"),
        "k": Setting(PerPreset(8, 8, 9), "dimension of each chunk's α: the manifold's dimension", minimum=1),
        "d": Setting(PerPreset(1000, 5000, 1000), "weights per chunk: φ maps α onto the sphere S^(d−1)", minimum=1),
        "width": Setting(64, "hidden units of each layer of the generator φ", minimum=1),
        "depth": Setting(2, "hidden layers of φ (0: one linear map)", minimum=0),
        "frequency": Setting(30.0, "ω of φ's first sine, sin(ω · (W α + b))", minimum=0, exclusive_minimum=True),
        "activation": Setting("sine", "φ's activation: sine (the paper's), or none (a linear random map, the "
                                      "paper's ablation)", choices=ACTIVATIONS),
        "alpha_range": Setting(1.0, "α starts uniform in [−alpha_range, alpha_range]", minimum=0),
        **training_settings(lr=PerPreset(3e-2, 3e-2, 5e-3)),
    }

    def make_code(self, wanted, initial, config: Config, seed: int, rng: str, device: torch.device) -> MCNCCode:
        return MCNCCode(wanted, initial, k=config["k"], d=config["d"], width=config["width"], depth=config["depth"],
                        frequency=config["frequency"], activation=config["activation"],
                        alpha_range=config["alpha_range"], seed=seed, rng=rng, device=device)
