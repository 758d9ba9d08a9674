"""PRANC — Pseudo RAndom Networks for Compacting deep models (ICCV 2023), the linear baseline
of MCNC and NOLA.

The network is a linear combination of random networks, θ = Σ_j c_j · θ_j, as the official code
runs it (UCDvision/PRANC: ``launcher.py`` → ``main_distrib.py`` with ``method: 'pranc'``, the
work done in ``utils.py``):

- **Basis j is a freshly initialised network.** ``fill_basis_mat`` draws every Linear/Conv2d
  weight U(−1/√fan_in, 1/√fan_in) with its own layer's fan-in (``kaiming_uniform_(a=√5)`` for
  conv weights, the explicit bound for linear ones) and each bias with its layer's bound — the
  distribution of those layers' own ``reset_parameters``. Here a basis value is U(−1, 1) from a
  generator seeded from (seed, chunk) times its layer's bound (:func:`fan_in_bounds`); bases
  are never stored and are drawn again at reconstruction.
- **θ0 is basis 0, with a trainable coefficient that starts at 1**, every other coefficient at
  0 (``init_alpha``): training starts from a freshly initialised network, and the stored
  coefficients include θ0's. Stored scalars = chunks × ``bases``, plus the dense ones below.
- **Only Linear and Conv2d layers are combined** (``prancable``). BatchNorm's affine weight and
  bias are trained directly with the same optimiser and stored as they are (``main_distrib.py``'s
  ``batchnorm_optimizer``; ``save_signature`` writes ``bnw.pt``, ``bnb.pt`` beside the running
  statistics): here every parameter outside the combination is a dense tensor of the artifact,
  beside the buffers every random-basis artifact stores.
- **Optimiser**: Adam on the coefficients without weight decay, lr 1e-3 in every official
  ``pranc_*`` config, with a step decay (γ = 0.5 every 50 of 400 epochs on CIFAR, every 5 of 50
  on MNIST). The shared loop here is Adam (AdamW at weight decay 0) with a cosine decay, the
  same for MCNC and NOLA, so the comparison cannot be an artefact of three different loops.
  The ``small`` preset trains 60 epochs (3,300 steps on mnist) instead of 50–400 and uses lr
  1e-2: on the mnist MLP at 117 stored scalars (seed 0) the official 1e-3 reaches 55.3% top-1,
  still far from converged, 1e-2 65.7% and 3e-2 65.3%. ``smoke``'s 165 steps need 3e-2 (30
  bases, 3 epochs: 16.5% top-1 at 1e-2, 27.7% at 3e-2). ``paper`` keeps 1e-3.

The official PRANC path keeps one basis matrix for the whole network (``fill_basis_mat``, split
over GPUs by coefficient); ``chunk_size=0`` does the same and is the default at every preset.
The ``paper`` preset is the official ImageNet-100 ResNet-18 budget: 100,000 coefficients
(``configs/pranc_otf_IN100_r18_100,000.yaml``, ``bin_pranc_r18_IN100_110,000.yaml``), 119,200
stored numbers with BatchNorm's, the count of the figure it is declared with. Those configs run
other variants (``pranc_otf``: 4,000 coefficients per layer and 20,000 for the classifier;
``pranc_bin``) rather than this one; ``chunk_size > 0`` cuts the parameter vector into chunks,
each a combination of its own ``bases`` random networks restricted to the chunk (same per-layer
bounds), θ0's coefficient included.

``mode=adapter`` has no official counterpart: the combined tensors are LoRA factors, basis 0 is
the layout's LoRA start (A at LoRA's init, B = 0, so ΔW = 0) and the other bases take each
factor's fan-in as if it were a Linear weight.

``keep_bases`` holds the drawn bases in memory (``parameters × bases`` floats: 4 bytes × 63k ×
117 ≈ 30 MB for the mnist MLP) instead of drawing them again in every forward and backward
pass; both give the same numbers. It is an optimisation for what fits: at the paper preset
(ResNet-18's one 11.2M-value chunk × 100,000 bases) it would hold ~4.5 TB, so there the bases
are drawn again, ``bases_per_draw`` at a time (20 × 11.2M values: 0.9 GB a draw), as the
official code draws one basis network per seed (``fill_basis_mat``). Blocks on the cpu generator are the very numbers of the whole draw;
the artifact records ``bases_per_draw`` for the cuda generator, whose numbers depend on it.
:meth:`PRANC.memory_needs` declares what the settings hold, so a run that cannot fit is refused
before it starts.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import Config, MemoryNeed, PerPreset, ReportedFigure, Setting, Task, UcdbenchError
from ucdbench_plugins.shared import papers
from ucdbench_plugins.shared.reported import ALL_LABELS, FULL_IMAGENET, NOLA_TABLE_8
from ucdbench_plugins.shared.method_settings import training_settings
from ucdbench_plugins.shared.reparam.layouts import CombinationLayout
from ucdbench_plugins.shared.reparam.method import FlatCode, RandomBasisMethod, random_basis_settings
from ucdbench_plugins.shared.reparam.seeded import SeededBasis
from ucdbench_plugins.shared.vision import network_sketch


PAPER_STORED_NUMBERS = 119_200
"""The numbers PRANC's ResNet-18 stores at the paper preset on ImageNet-100, as the NOLA paper's
Table 8 counts them (what the official ``save_signature`` writes)."""


def fan_in_bounds(wanted: dict[str, tuple[int, ...]]) -> dict[str, float]:
    """1/√fan_in for every tensor, the bound of its layer's default init: a weight's fan-in is
    the product of its dimensions after the first (Linear: in; Conv2d: in/groups × kernel; a
    LoRA factor as a Linear weight), and a bias takes its layer's weight's."""
    bounds = {}
    for name, shape in wanted.items():
        weight = shape if len(shape) >= 2 else None
        if name.endswith(".bias"):
            weight = wanted.get(name[: -len("bias")] + "weight")
        if weight is None or len(weight) < 2:
            raise UcdbenchError(f"pranc: {name} {tuple(shape)} has no fan-in to set its basis' scale; "
                                "PRANC combines Linear and Conv2d weights and biases only")
        bounds[name] = 1.0 / math.sqrt(math.prod(weight[1:]))
    return bounds


class PRANCCode(FlatCode):
    """Coefficients (chunks × bases) → per chunk Σ_j c_j θ_j, θ_j at each layer's init scale.

    Basis 0 is θ0: drawn like the others, or the layout's starting values where it has them
    (adapters); its coefficient starts at 1, the others at 0.
    """

    def __init__(self, wanted, initial, *, bases: int, chunk_size: int, keep_bases: bool, seed: int, rng: str,
                 device: torch.device | str, bases_per_draw: int = 0) -> None:
        super().__init__(wanted, None)
        if initial is not None and bases < 2:
            raise UcdbenchError(f"pranc: mode=adapter needs bases ≥ 2, as its basis 0 is the LoRA start "
                                f"(got bases={bases})")
        self.chunk = chunk_size or self.total
        self.chunks = -(-self.total // self.chunk)
        self.seed, self.rng, self.keep = seed, rng, keep_bases
        bounds = fan_in_bounds(wanted)
        scale = torch.cat([torch.full((size,), bounds[n], device=device) for n, size in zip(self.names, self.sizes)])
        self.register_buffer("scale", self._chunked(scale))
        theta0 = None if initial is None else self._chunked(torch.cat([initial[n].reshape(-1) for n in self.names]))
        self.register_buffer("theta0", theta0)
        drawn = bases if theta0 is None else bases - 1
        self.basis = SeededBasis(seed, self.chunks, drawn, self.chunk, 1.0, rng, keep_bases, draw=bases_per_draw)
        coefficients = torch.zeros(self.chunks, bases, device=device)
        coefficients[:, 0] = 1.0
        self.coefficients = nn.Parameter(coefficients)

    def _chunked(self, flat: torch.Tensor) -> torch.Tensor:
        return F.pad(flat, (0, self.chunks * self.chunk - self.total)).view(self.chunks, self.chunk)

    def offsets(self) -> torch.Tensor:
        """The combined weights (not offsets: the combination layout adds no base)."""
        if self.theta0 is None:
            flat = self.basis.combine(self.coefficients) * self.scale
        else:
            flat = self.coefficients[:, :1] * self.theta0 + self.basis.combine(self.coefficients[:, 1:]) * self.scale
        return flat.reshape(-1)[: self.total]

    def stored(self) -> dict[str, torch.Tensor]:
        return {"coefficients": self.coefficients}

    def spec(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self.rng, "bases": self.coefficients.shape[1], "chunk_size": self.chunk,
                "chunks": self.chunks, "keep_bases": self.keep, "bases_per_draw": self.basis.draw}

    @classmethod
    def from_spec(cls, spec, wanted, initial, device):
        return cls(wanted, initial, bases=spec["bases"], chunk_size=spec["chunk_size"], keep_bases=False,
                   seed=spec["seed"], rng=spec["rng"], device=device, bases_per_draw=spec.get("bases_per_draw", 0))


class PRANC(RandomBasisMethod):
    name = "pranc"
    family = "weight compression"
    paper = papers.PRANC
    reported_unavailable = ("PRANC (ICCV 2023): its own tables are not reachable (UCDvision/PRANC @272dc4d: no "
                            "results in the README of any commit nor in configs/); the figure declared is the NOLA "
                            "paper's re-report (Table 8), and PRANC's MNIST and ImageNet-1k figures were not found")
    code_class = PRANCCode
    reported = (
        # 119,200 = the config's 100,000 coefficients + what save_signature stores beside them:
        # BatchNorm's weights, biases, running means and variances (4 × 4,800 on ResNet-18).
        ReportedFigure("imagenet", "top1", 61.08,
                       "ImageNet-100 (task.root an ImageNet-100 folder, all its images, 224 px), ResNet-18 from scratch, "
                       f"{PAPER_STORED_NUMBERS:,} stored numbers (100,000 "
                       "coefficients + BatchNorm's affine and running statistics)",
                       f"{NOLA_TABLE_8}, re-reporting PRANC (PRANC's own tables: not reachable)",
                       where={"mode": "scratch", "bases": 100_000, "chunk_size": 0, "task.model": "resnet18",
                              **FULL_IMAGENET, **ALL_LABELS}),
    )

    settings = {
        **random_basis_settings(mode="scratch"),
        "bases": Setting(PerPreset(50, 100, 100_000), "coefficients per chunk: random networks combined, θ0's "
                                                      "included (≥ 2 with mode=adapter)", minimum=1),
        "chunk_size": Setting(0, "values per chunk, each its own combination (0: one chunk, the official code's)",
                              minimum=0),
        "keep_bases": Setting(PerPreset(True, True, False), "hold the drawn bases in memory (parameters × bases "
                              "floats) instead of drawing them again in every pass; the same numbers either way"),
        # paper: a draw of 20 bases of ResNet-18's one 11.2M-value chunk is 0.9 GB (the official pranc_otf draws
        # on the fly too); all 100,000 at once would be 4.5 TB
        "bases_per_draw": Setting(PerPreset(0, 0, 20), "bases of a chunk drawn at once when they are drawn again "
                                  "(0: the whole chunk); bounds the memory of a draw to 4 · bases_per_draw · "
                                  "chunk_size bytes", minimum=0),
        # paper: configs/pranc_otf_IN100_r18_100,000.yaml and bin_pranc_r18_IN100_110,000.yaml (Adam, lr 1e-3,
        # batch 256, 200 epochs, 100,000 coefficients)
        **training_settings(epochs=PerPreset(3, 60, 200), batch_size=PerPreset(64, 64, 256),
                            lr=PerPreset(3e-2, 1e-2, 1e-3)),
    }

    def scratch_layout(self, network: nn.Module, config: Config) -> CombinationLayout:
        return CombinationLayout(network)

    def make_code(self, wanted, initial, config: Config, seed: int, rng: str, device: torch.device) -> PRANCCode:
        return PRANCCode(wanted, initial, bases=config["bases"], chunk_size=config["chunk_size"],
                         keep_bases=config["keep_bases"], seed=seed, rng=rng, device=device,
                         bases_per_draw=config["bases_per_draw"])

    def memory_needs(self, task: Task, config: Config) -> list[MemoryNeed]:
        """The float32 bases the settings hold at once: every chunk's with ``keep_bases``, else two
        draws (a chunk's, or ``bases_per_draw`` of them). The combined values are counted on the
        task's network sketch; where the task has none before it is prepared, a chunk is the
        lower bound (nothing, with ``chunk_size=0``)."""
        sketch = network_sketch(task)
        values = None if sketch is None else sum(math.prod(s) for s in self.layout(sketch, config).wanted().values())
        chunk = config["chunk_size"] or values
        if chunk is None:
            return []
        bases = config["bases"]
        if config["keep_bases"]:
            chunks = 1 if values is None else -(-values // chunk)
            return [MemoryNeed(4 * chunks * bases * chunk, f"the kept bases of {chunks} chunk{'s' * (chunks != 1)} × {bases} bases × "
                               f"{chunk} values", "keep_bases")]
        draw = config["bases_per_draw"] if 0 < config["bases_per_draw"] < bases else bases
        # a draw and the one before it, still referenced while the next is drawn (measured: 1.87 GiB
        # peak for draws of 500 × 500,000)
        return [MemoryNeed(2 * 4 * draw * chunk, f"two draws of {draw} bases × {chunk} values", "bases_per_draw")]
