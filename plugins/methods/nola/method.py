"""NOLA — compressing LoRA with linear combinations of random bases (ICLR 2024).

ΔW = (alpha / rank) · B A, A (rank × in) and B (out × rank) each a linear combination of
seeded random bases, A = A0 + Σ_i a_i A_i (k bases) and B = B0 + Σ_j b_j B_j (l bases); only a
and b train, and the artifact stores a, b and the seed — (k + l) numbers per adapted matrix.
Bases and base terms are drawn from the seed, never stored; by default the bases are drawn
again in the backward pass instead of being kept (``keep_bases=true`` holds them: k·rank·in +
l·out·rank floats per matrix).

The official code has two forms, both here (``form``; ``auto`` picks NOLA-MLP for a ViT's fc1
and fc2, the GPT-2 form for everything else):

- ``gpt2`` — the LoRA layer of the GPT-2 code (UCDvision/NOLA ``gpt/src/model_nola.py``:
  ``LoRA(use_nola=True)`` with two ``NOLALinear`` factors, ``GenerateParams``), the form of the
  paper's E2E table. Bases U(−1, 1)/√k (A) and /√l (B), regenerated in forward and backward.
  Each factor also has a frozen base term — the ``NOLALinear``'s own ``weight``, added to the
  combination and never trained — and a and b start at 0. ``reset_lora_parameters`` sets that
  term to LoRA's init (A kaiming-uniform, B zero), but ``GPT2LMModel.__init__`` then applies
  ``_init_weights`` to every ``nn.Linear``, ``NOLALinear`` included, so both base terms end
  N(0, 0.02²): A0 and B0 here, drawn from the seed. ΔW at the start is therefore
  (alpha / rank) · B0 A0, small but not zero. Official GPT-2 L settings (``gpt/scripts/
  finetune_gpt2l_e2e_qv_nola.sh``): Q and V, k = l = 256, rank 8, alpha 2, lr 0.01 — the
  ``paper`` preset. (Its blocks are deep copies of one, so every layer shares one seed per
  factor; here each matrix has its own.)
- ``vit-mlp`` — NOLA-MLP of the ViT code (``vit/nola_mlp.py`` with ``vit/NOLA.py``'s ``NOLA2``,
  ``vit/run.sh``): fc1 and fc2 of every block, rank 1, k = l = 1024, lr 5e-3, no base term, the
  bases ``kaiming_uniform_(a=√5)`` over (k, in, rank) and (l, rank, out) tensors — U(±1/√(in ·
  rank)) and U(±1/√(rank · out)) — a and b starting at 1/k and 1/l (A and B start as the mean of
  their bases), ΔW = (1/rank) · B A (``c = 1``: alpha 1). The official code seeds every layer
  with 0, so layers of one shape share bases; here each matrix has its own. At ``smoke`` and
  ``small`` the ViT is 32 and 64 wide instead of ViT-B/L's 768–1024, so k = l = 16 and 32 keep
  NOLA-MLP's ratio of stored numbers to a rank-1 LoRA's about where it is (2·1024 / (1024 + 4096)
  = 0.4 on ViT-L's fc1; 2·32 / (64 + 128) = 0.33 on the small ViT's, 2·16 / (32 + 64) on smoke's).

``rank``, ``alpha``, ``k``, ``l`` and ``lr`` set to ``auto`` take the form's values at the
preset; any number overrides them.

Modes: ``adapter`` (the paper's): Q and V of GPT-2's attention (slices of the fused ``c_attn``),
fc1 and fc2 of every ViT block, the task head trained dense for new classes. ``scratch``
(MCNC's comparison; no official code): every parameter tensor of a randomly initialised
network, seen as a matrix, is its init plus B A, in the GPT-2 form unless ``form`` says
otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ucdbench.api import Config, Setting
from ucdbench_plugins.shared.reparam.layouts import LowRankLayout, auto_targets, parameter_slots
from ucdbench_plugins.shared.reparam.method import Code, RandomBasisMethod, random_basis_settings
from ucdbench_plugins.shared.reparam.seeded import SeededBasis, derive_seed, normal

PAPER = "NOLA paper (ICLR 2024)"
FORMS = ("gpt2", "vit-mlp")
BASE_TERM_STD = 0.02
"""GPT-2's ``_init_weights``: the std of the GPT-2 form's frozen base terms A0 and B0."""

FORM_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "gpt2": {
        "rank": {"smoke": 4, "small": 4, "paper": 8},
        "alpha": {"smoke": 8.0, "small": 8.0, "paper": 2.0},
        "k": {"smoke": 32, "small": 64, "paper": 256},
        "l": {"smoke": 32, "small": 64, "paper": 256},
        "lr": {"smoke": 1e-2, "small": 5e-3, "paper": 1e-2},
    },
    "vit-mlp": {
        "rank": {"smoke": 1, "small": 1, "paper": 1},
        "alpha": {"smoke": 1.0, "small": 1.0, "paper": 1.0},
        "k": {"smoke": 16, "small": 32, "paper": 1024},
        "l": {"smoke": 16, "small": 32, "paper": 1024},
        "lr": {"smoke": 5e-3, "small": 5e-3, "paper": 5e-3},
    },
}
"""What ``auto`` means per form and preset (the official scripts' values at ``paper``)."""

AUTO_SETTINGS = {
    "form": Setting("auto", "the official code's form: gpt2 (LoRA layer with frozen base terms) or vit-mlp "
                    "(NOLA-MLP); auto: vit-mlp for a ViT's fc1/fc2 adapters, gpt2 otherwise", choices=("auto", *FORMS)),
    "rank": Setting("auto", "rank of A and B; auto: the form's at the preset", choices=("auto",), type=int, minimum=1),
    "alpha": Setting("auto", "ΔW = (alpha / rank) · B A; auto: the form's at the preset", choices=("auto",),
                     type=(int, float), minimum=0, exclusive_minimum=True),
    "k": Setting("auto", "random bases of A per matrix; auto: the form's at the preset", choices=("auto",), type=int,
                 minimum=1),
    "l": Setting("auto", "random bases of B per matrix; auto: the form's at the preset", choices=("auto",), type=int,
                 minimum=1),
    "lr": Setting("auto", "learning rate of the coefficients; auto: the form's at the preset", choices=("auto",),
                  type=(int, float), minimum=0, exclusive_minimum=True),
}
"""The settings whose default depends on the form: ``auto`` or a number."""


def basis_scale(form: str, shape: tuple[int, ...], count: int) -> float:
    """The half-width of one factor's uniform bases: 1/√count (GPT-2), or kaiming-uniform's
    1/√fan_in over the stacked (count, …) tensor, fan_in = the factor's size (NOLA-MLP)."""
    return 1.0 / math.sqrt(count if form == "gpt2" else math.prod(shape))


class NOLACode(Code):
    """a (matrices × k) and b (matrices × l) → each matrix's A and B, in the GPT-2 or NOLA-MLP form."""

    uses_initial = False

    def __init__(self, wanted: dict[str, tuple[int, ...]], *, k: int, l: int, keep_bases: bool, seed: int, rng: str,
                 device: torch.device | str, form: str = "gpt2") -> None:
        super().__init__()
        self.matrices = [name[: -len(".A")] for name in wanted if name.endswith(".A")]
        self.shapes = {name: tuple(shape) for name, shape in wanted.items()}
        self.seed, self.rng, self.keep, self.form = seed, rng, keep_bases, form
        self.bases: dict[str, SeededBasis] = {}
        self.base_terms: dict[str, torch.Tensor] = {}
        for name in self.matrices:
            for factor, count in (("A", k), ("B", l)):
                key, shape = f"{name}.{factor}", self.shapes[f"{name}.{factor}"]
                self.bases[key] = SeededBasis(derive_seed(seed, name, factor), 1, count, math.prod(shape),
                                              basis_scale(form, shape, count), rng, keep_bases)
                if form == "gpt2":
                    self.base_terms[key] = normal(shape, derive_seed(seed, name, factor, "base"), device, rng,
                                                  BASE_TERM_STD)
        start_a, start_b = (0.0, 0.0) if form == "gpt2" else (1.0 / k, 1.0 / l)
        self.a = nn.Parameter(torch.full((len(self.matrices), k), start_a, device=device))
        self.b = nn.Parameter(torch.full((len(self.matrices), l), start_b, device=device))

    def forward(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, name in enumerate(self.matrices):
            for factor, coefficients in (("A", self.a), ("B", self.b)):
                key = f"{name}.{factor}"
                combined = self.bases[key].combine(coefficients[i:i + 1]).view(self.shapes[key])
                out[key] = self.base_terms[key] + combined if key in self.base_terms else combined
        return out

    def stored(self) -> dict[str, torch.Tensor]:
        return {"a": self.a, "b": self.b}

    def spec(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self.rng, "k": self.a.shape[1], "l": self.b.shape[1], "form": self.form,
                "matrices": len(self.matrices), "keep_bases": self.keep}

    @classmethod
    def from_spec(cls, spec, wanted, initial, device):
        return cls(wanted, k=spec["k"], l=spec["l"], keep_bases=False, seed=spec["seed"], rng=spec["rng"],
                   device=device, form=spec["form"])


class NOLA(RandomBasisMethod):
    name = "nola"
    code_class = NOLACode
    # The papers' GPT-2 E2E figures are BLEU of generated text, which no task here produces (pydocs, also on
    # e2e_nlg, reports perplexity); the README quotes them instead of a leaderboard standing them beside perplexity.
    # The ImageNet-100 ResNet-18 figure (64.66 at 109,600 stored numbers, NOLA paper v1, Table 8) needs its
    # setting first: k = l = 2,000 per convolution and 10,000 for the classifier, rank 64, BatchNorm dense.
    reported = ()

    settings = {
        **random_basis_settings(mode="adapter"),
        **AUTO_SETTINGS,
        "keep_bases": Setting(False, "hold the drawn bases in memory (k·rank·in + l·out·rank floats per matrix) "
                                     "instead of drawing them again in forward and backward; the same numbers"),
    }

    def configure(self, network: nn.Module, config: Config, preset: str) -> Config:
        """The form (NOLA-MLP for a ViT's fc1 and fc2 adapters) and the ``auto`` settings it implies."""
        form = config["form"]
        if form == "auto":
            vit_mlp = auto_targets(network) == ["fc1", "fc2"] and (
                config["targets"] == "auto" or set(config["targets"]) <= {"fc1", "fc2"})
            form = "vit-mlp" if config["mode"] == "adapter" and vit_mlp else "gpt2"
        implied = {key: values[preset] for key, values in FORM_SETTINGS[form].items() if config[key] == "auto"}
        return {**config, "form": form, **implied}

    def scratch_layout(self, network, config: Config) -> LowRankLayout:
        return LowRankLayout(parameter_slots(network), config["rank"], config["alpha"])

    def make_code(self, wanted, initial, config: Config, seed: int, rng: str, device: torch.device) -> NOLACode:
        return NOLACode(wanted, k=config["k"], l=config["l"], keep_bases=config["keep_bases"], seed=seed, rng=rng,
                        device=device, form=config["form"])
