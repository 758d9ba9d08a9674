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
fc1 and fc2 of every ViT block, the task head trained dense for new classes. ``scratch``: the
paper's CNN experiments (NOLA paper v1, appendix, "Implementation Details"; the official
repository has no code for them — UCDvision/NOLA @03c7027 holds only its GPT-2, LLaMA and ViT
code, and no commit of its history has a CNN): every layer of a randomly initialised network
but its normalisation layers has "all parameters of a layer" reshaped into one matrix "close to
square shape", its init plus B A (:class:`LayerLowRankLayout`), in the GPT-2 form unless
``form`` says otherwise; BatchNorm's affine is trained dense. The classifier (the layer named
``head``, the harness's convention) has its own basis count, ``head_bases`` (k = l), as the
paper's ImageNet-100 setting: k = l = 2,000 for each of ResNet-18's 20 convolutions, 10,000 for
the classifier, rank 64, Adam with lr 1e-3 — the ``paper`` preset's ``auto`` values in this mode
(the paper also trains 200 epochs at batch 256: ``--set epochs=200 batch_size=256``). That is
20 · 4,000 + 20,000 = 100,000 coefficients and 9,600 BatchNorm weights and biases: the paper's
109,600. The classifier's 100 biases are part of its matrix (51,200 + 100 = 51,300 = 225 × 228
values), as "all parameters of a layer" says, so they are generated, not stored; the artifact
also stores BatchNorm's running statistics (9,600 more floats), which the paper's count leaves
out and without which the scored network cannot be rebuilt.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ucdbench.api import Config, PerPreset, ReportedFigure, Setting
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.reported import ALL_LABELS, FULL_IMAGENET, NOLA_TABLE_8
from ucdbench_plugins.shared.reparam.layouts import LayerLowRankLayout, auto_targets
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

SCRATCH_SETTINGS: dict[str, dict[str, Any]] = {
    "rank": {"paper": 64}, "k": {"paper": 2_000}, "l": {"paper": 2_000}, "lr": {"paper": 1e-3},
}
"""What ``auto`` means from scratch where it differs from the form's: the NOLA paper's ImageNet-100
ResNet-18 setting at ``paper`` (v1, appendix: k = l = 2,000 per layer, rank 64, lr 0.001)."""

PAPER_HEAD_BASES = 10_000
"""The paper's k = l for the ImageNet-100 classifier trained from scratch."""

PAPER_STORED_NUMBERS = 109_600
"""What NOLA's ResNet-18 trains at the paper preset on ImageNet-100, as the NOLA paper's Table 8
counts it: 100,000 coefficients and 9,600 BatchNorm weights and biases."""

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

HEAD = "head"
"""The classifier's layer: ``head`` in every built-in base (``ImageClassification.head_parameters``)."""


def is_head(matrix: str) -> bool:
    return matrix == HEAD or matrix.startswith(f"{HEAD}.")


def basis_scale(form: str, shape: tuple[int, ...], count: int) -> float:
    """The half-width of one factor's uniform bases: 1/√count (GPT-2), or kaiming-uniform's
    1/√fan_in over the stacked (count, …) tensor, fan_in = the factor's size (NOLA-MLP)."""
    return 1.0 / math.sqrt(count if form == "gpt2" else math.prod(shape))


class NOLACode(Code):
    """a (matrices × k) and b (matrices × l) → each matrix's A and B, in the GPT-2 or NOLA-MLP form;
    the ``head`` matrices (the classifier from scratch) have their own ``head_k`` and ``head_l``
    bases and coefficients (``head_a``, ``head_b``)."""

    uses_initial = False

    def __init__(self, wanted: dict[str, tuple[int, ...]], *, k: int, l: int, keep_bases: bool, seed: int, rng: str,
                 device: torch.device | str, form: str = "gpt2", head: tuple[str, ...] = (),
                 head_k: int | None = None, head_l: int | None = None) -> None:
        super().__init__()
        matrices = [name[: -len(".A")] for name in wanted if name.endswith(".A")]
        self.matrices = [name for name in matrices if name not in head]
        self.head = [name for name in matrices if name in head]
        self.shapes = {name: tuple(shape) for name, shape in wanted.items()}
        self.seed, self.rng, self.keep, self.form = seed, rng, keep_bases, form
        self.bases: dict[str, SeededBasis] = {}
        self.base_terms: dict[str, torch.Tensor] = {}
        self.head_k, self.head_l = head_k, head_l = head_k or k, head_l or l
        for names, counts in ((self.matrices, (k, l)), (self.head, (head_k, head_l))):
            for name in names:
                for factor, count in zip(("A", "B"), counts):
                    key, shape = f"{name}.{factor}", self.shapes[f"{name}.{factor}"]
                    self.bases[key] = SeededBasis(derive_seed(seed, name, factor), 1, count, math.prod(shape),
                                                  basis_scale(form, shape, count), rng, keep_bases)
                    if form == "gpt2":
                        self.base_terms[key] = normal(shape, derive_seed(seed, name, factor, "base"), device, rng,
                                                      BASE_TERM_STD)
        self.a, self.b = self._coefficients(len(self.matrices), k, l, device)
        if self.head:
            self.head_a, self.head_b = self._coefficients(len(self.head), head_k, head_l, device)

    def _coefficients(self, matrices: int, k: int, l: int, device) -> tuple[nn.Parameter, nn.Parameter]:
        """a (matrices × k) and b (matrices × l) at the form's start: 0 (GPT-2), 1/k and 1/l (NOLA-MLP)."""
        start_a, start_b = (0.0, 0.0) if self.form == "gpt2" else (1.0 / k, 1.0 / l)
        return (nn.Parameter(torch.full((matrices, k), start_a, device=device)),
                nn.Parameter(torch.full((matrices, l), start_b, device=device)))

    def forward(self) -> dict[str, torch.Tensor]:
        out = {}
        groups = [(self.matrices, self.a, self.b), *([(self.head, self.head_a, self.head_b)] if self.head else [])]
        for names, a, b in groups:
            for i, name in enumerate(names):
                for factor, coefficients in (("A", a), ("B", b)):
                    key = f"{name}.{factor}"
                    combined = self.bases[key].combine(coefficients[i:i + 1]).view(self.shapes[key])
                    out[key] = self.base_terms[key] + combined if key in self.base_terms else combined
        return out

    def stored(self) -> dict[str, torch.Tensor]:
        head = {"head_a": self.head_a, "head_b": self.head_b} if self.head else {}
        return {"a": self.a, "b": self.b, **head}

    def spec(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self.rng, "k": self.a.shape[1], "l": self.b.shape[1], "form": self.form,
                "matrices": len(self.matrices), "keep_bases": self.keep, "head": self.head,
                "head_k": self.head_k, "head_l": self.head_l}

    @classmethod
    def from_spec(cls, spec, wanted, initial, device):
        # artifacts written before the classifier had its own bases have no "head"
        return cls(wanted, k=spec["k"], l=spec["l"], keep_bases=False, seed=spec["seed"], rng=spec["rng"],
                   device=device, form=spec["form"], head=tuple(spec.get("head", ())), head_k=spec.get("head_k"),
                   head_l=spec.get("head_l"))


class NOLA(RandomBasisMethod):
    name = "nola"
    family = "weight compression"
    paper = papers.NOLA
    code_class = NOLACode
    # The papers' GPT-2 E2E figures are BLEU of generated text, which no task here produces (pydocs, also on
    # e2e_nlg, reports perplexity); the README quotes them instead of a leaderboard standing them beside perplexity.
    reported = (
        # The budget's settings are matched as a run resolves them: k and l "auto" (2,000 from scratch at paper)
        # and head_bases 10,000, which only the paper preset sets.
        ReportedFigure("imagenet", "top1", 64.66,
                       "ImageNet-100 (task.root an ImageNet-100 folder, all its images, 224 px), ResNet-18 from scratch, "
                       f"{PAPER_STORED_NUMBERS:,} trained numbers (k = l = "
                       "2,000 on each of the 20 convolutions, 10,000 on the classifier, rank 64; BatchNorm's 9,600 "
                       "affine numbers dense); 200 epochs, batch 256, Adam lr 0.001",
                       f"{NOLA_TABLE_8}; setting from its appendix, Implementation Details",
                       where={"mode": "scratch", "k": "auto", "l": "auto", "head_bases": PAPER_HEAD_BASES,
                              "task.model": "resnet18", **FULL_IMAGENET, **ALL_LABELS}),
    )

    settings = {
        **random_basis_settings(mode="adapter"),
        **AUTO_SETTINGS,
        "keep_bases": Setting(False, "hold the drawn bases in memory (k·rank·in + l·out·rank floats per matrix) "
                                     "instead of drawing them again in forward and backward; the same numbers"),
        "head_bases": Setting(PerPreset("auto", "auto", PAPER_HEAD_BASES),
                              "random bases of the classifier's A and of its B (k = l; mode=scratch: the layer named "
                              "head); auto: k and l, as every other layer", choices=("auto",), type=int, minimum=1),
    }

    def configure(self, network: nn.Module, config: Config, preset: str) -> Config:
        """The form (NOLA-MLP for a ViT's fc1 and fc2 adapters) and the ``auto`` settings it implies: the
        form's, and from scratch at ``paper`` the NOLA paper's ImageNet-100 ResNet-18 setting."""
        form = config["form"]
        if form == "auto":
            vit_mlp = auto_targets(network) == ["fc1", "fc2"] and (
                config["targets"] == "auto" or set(config["targets"]) <= {"fc1", "fc2"})
            form = "vit-mlp" if config["mode"] == "adapter" and vit_mlp else "gpt2"
        values = {key: by_preset[preset] for key, by_preset in FORM_SETTINGS[form].items()}
        if config["mode"] == "scratch":
            values.update({key: by_preset[preset] for key, by_preset in SCRATCH_SETTINGS.items() if preset in by_preset})
        implied = {key: value for key, value in values.items() if config[key] == "auto"}
        return {**config, "form": form, **implied}

    def scratch_layout(self, network, config: Config) -> LayerLowRankLayout:
        return LayerLowRankLayout.of(network, config["rank"], config["alpha"])

    def make_code(self, wanted, initial, config: Config, seed: int, rng: str, device: torch.device) -> NOLACode:
        head_bases = None if config["head_bases"] == "auto" else config["head_bases"]
        matrices = [name[: -len(".A")] for name in wanted if name.endswith(".A")]
        return NOLACode(wanted, k=config["k"], l=config["l"], keep_bases=config["keep_bases"], seed=seed, rng=rng,
                        device=device, form=config["form"], head=tuple(filter(is_head, matrices)), head_k=head_bases,
                        head_l=head_bases)
