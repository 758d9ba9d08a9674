"""What the generated tensors of a random-basis method are, and how they become dense weights.

Three layouts cover the papers' modes:

- :class:`DirectLayout` — training a network from scratch with *all* its parameters generated
  (MCNC): the generated tensors are offsets of the network's own parameters from their seeded
  initialisation θ0, and a weight is θ0 + Δ.
- :class:`CombinationLayout` — PRANC from scratch: the weights and biases of every Linear and
  Conv2d layer are the generated tensors themselves (θ0 is one of the combined bases); the
  other parameters (BatchNorm's affine) are not generated, and the method trains them dense.
- :class:`LowRankLayout` — low-rank factors on chosen matrices, W' = W + (alpha / rank) · B A:
  LoRA-style adapters of a pretrained base (NOLA, MCNC on adapters), or NOLA's from-scratch form
  A matrix may be a slice of a fused projection — the Q or V rows of GPT-2's ``c_attn`` or timm's
  ``qkv`` — as NOLA and LoRA adapt Q and V only.
- :class:`LayerLowRankLayout` — NOLA from scratch: every layer but the normalisation layers has
  all its parameters (weight and bias together) flattened into one close-to-square matrix, its
  seeded initialisation plus B A; the normalisation layers (BatchNorm's affine) are not
  generated, and the method trains them dense.

A layout names the tensors it wants (``wanted``), their starting values (``initial``: LoRA's
init for adapter factors, none for direct offsets) and turns generated tensors into dense
weights (``compose``) — differentiably, so the same function trains and reconstructs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ucdbench.api import UcdbenchError
from ucdbench_plugins.shared.reparam.seeded import derive_seed, uniform

FUSED = {"c_attn", "qkv"}
"""Fused Q/K/V projections: GPT-2's ``c_attn`` (Conv1D, weight (in, 3d)) and timm's ``qkv``."""


@dataclass(frozen=True)
class MatrixSlot:
    """One matrix a low-rank layout adapts: rows ``start:stop`` of a parameter's (out, in) view."""

    name: str
    param: str
    start: int
    stop: int
    total_rows: int
    in_features: int
    transposed: bool
    """GPT-2's Conv1D stores (in, out): its (out, in) view is the transpose."""

    @property
    def out_features(self) -> int:
        return self.stop - self.start


def _is_conv1d(module: nn.Module) -> bool:
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def _matrix_shape(module: nn.Module) -> tuple[int, int, bool]:
    """(out, in, transposed) of a Linear, Conv2d or GPT-2 Conv1D weight."""
    weight = module.weight
    if _is_conv1d(module):
        return weight.shape[1], weight.shape[0], True
    return weight.shape[0], weight[0].numel(), False


def auto_targets(model: nn.Module) -> list[str]:
    """The papers' choices: Q and V of GPT-2 attention (NOLA/LoRA on GPT-2); fc1 and fc2 of every
    ViT block (NOLA-MLP); otherwise every Linear/Conv layer but the task head."""
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    if "c_attn" in leaves:
        return ["q", "v"]
    if {"fc1", "fc2"} <= leaves and "qkv" in leaves:
        return ["fc1", "fc2"]
    return [name for name, m in model.named_modules()
            if isinstance(m, (nn.Linear, nn.Conv2d)) and not name.startswith("head")]


def adapter_slots(model: nn.Module, targets: str | list[str]) -> list[MatrixSlot]:
    """The matrices named by ``targets``: ``"auto"``, or module names / last name parts, where
    ``q``, ``k``, ``v`` mean those rows of every fused attention projection."""
    targets = auto_targets(model) if targets == "auto" else list(targets)
    slots: list[MatrixSlot] = []
    modules = [(name, m) for name, m in model.named_modules()
               if isinstance(m, (nn.Linear, nn.Conv2d)) or _is_conv1d(m)]
    for name, module in modules:
        out, fan_in, transposed = _matrix_shape(module)
        leaf = name.rsplit(".", 1)[-1]
        if leaf in FUSED:
            width = out // 3
            for part, index in (("q", 0), ("k", 1), ("v", 2)):
                if part in targets:
                    slots.append(MatrixSlot(f"{name}.{part}", f"{name}.weight", index * width, (index + 1) * width,
                                            out, fan_in, transposed))
        if leaf in targets or name in targets:
            slots.append(MatrixSlot(name, f"{name}.weight", 0, out, out, fan_in, transposed))
    if not slots:
        available = sorted({n.rsplit(".", 1)[-1] for n, _ in modules} | ({"q", "k", "v"} if any(
            n.rsplit(".", 1)[-1] in FUSED for n, _ in modules) else set()))
        raise UcdbenchError(f"targets={targets!r} match no layer of this model; layers it has: {', '.join(available)}")
    return slots


NORMALISATION = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
"""Layers NOLA from scratch leaves dense: BatchNorm (and InstanceNorm), LayerNorm, GroupNorm."""


def near_square_rows(size: int) -> int:
    """The rows of the matrix closest to square that holds ``size`` values: the largest divisor
    of ``size`` not above its square root (so rows ≤ columns)."""
    rows = math.isqrt(size)
    while size % rows:
        rows -= 1
    return rows


class DirectLayout:
    """Generated tensors are the offsets Δ of every parameter from the seeded init: θ0 + Δ."""

    kind = "direct"

    def __init__(self, model: nn.Module) -> None:
        self.shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}

    @property
    def params(self) -> list[str]:
        return list(self.shapes)

    def wanted(self) -> dict[str, tuple[int, ...]]:
        return dict(self.shapes)

    def initial(self, seed: int, device: torch.device, rng: str) -> dict[str, torch.Tensor] | None:
        return None  # θ0 is the base the offsets are added to

    def compose(self, generated: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: base[name] + generated[name] for name in self.shapes}

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": {n: list(s) for n, s in self.shapes.items()}}


class CombinationLayout(DirectLayout):
    """Generated tensors are the weights and biases of every Linear and Conv2d layer (what the
    official PRANC code combines, ``utils.prancable``), not offsets from a base."""

    kind = "combination"

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        combined = {id(p) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
                    for p in m.parameters(recurse=False)}
        names = {name for name, p in model.named_parameters() if id(p) in combined}
        self.shapes = {name: shape for name, shape in self.shapes.items() if name in names}
        if not self.shapes:
            raise UcdbenchError("the model has no Linear or Conv2d layer to combine")

    def compose(self, generated: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: generated[name] for name in self.shapes}


class LowRankLayout:
    """Generated tensors are factors A (rank × in) and B (out × rank) of each slot:
    W' = W + (alpha / rank) · B A, added into the slot's rows of its parameter."""

    kind = "low-rank"

    def __init__(self, slots: list[MatrixSlot], rank: int, alpha: float) -> None:
        if rank < 1:
            raise UcdbenchError(f"rank must be at least 1, not {rank}")
        self.slots, self.rank, self.alpha = slots, rank, alpha
        self.scale = alpha / rank
        self._transposed = {slot.param: slot.transposed for slot in slots}

    @property
    def params(self) -> list[str]:
        return list(dict.fromkeys(slot.param for slot in self.slots))

    def wanted(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for slot in self.slots:
            shapes[f"{slot.name}.A"] = (self.rank, slot.in_features)
            shapes[f"{slot.name}.B"] = (slot.out_features, self.rank)
        return shapes

    def initial(self, seed: int, device: torch.device, rng: str) -> dict[str, torch.Tensor]:
        """LoRA's start: A ~ U(−1/√in, 1/√in) (kaiming-uniform with a = √5), B = 0, so ΔW = 0."""
        start = {}
        for slot in self.slots:
            start[f"{slot.name}.A"] = uniform((self.rank, slot.in_features), derive_seed(seed, slot.name, "A0"),
                                              device, rng) / math.sqrt(slot.in_features)
            start[f"{slot.name}.B"] = torch.zeros(slot.out_features, self.rank, device=device)
        return start

    def compose(self, generated: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        deltas: dict[str, torch.Tensor] = {}
        for slot in self.slots:
            delta = (generated[f"{slot.name}.B"] @ generated[f"{slot.name}.A"]) * self.scale
            if slot.out_features != slot.total_rows:
                delta = F.pad(delta, (0, 0, slot.start, slot.total_rows - slot.stop))
            deltas[slot.param] = deltas[slot.param] + delta if slot.param in deltas else delta
        weights = {}
        for param, delta in deltas.items():
            weight = base[param]
            weights[param] = weight + (delta.T if self._transposed[param] else delta.reshape(weight.shape))
        return weights

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "rank": self.rank, "alpha": self.alpha, "slots": [asdict(s) for s in self.slots]}


class LayerLowRankLayout(LowRankLayout):
    """NOLA from scratch (NOLA paper v1, appendix, "Implementation Details" of its CNN
    experiments: "we reshape all parameters of a layer into a matrix (close to square shape) and
    apply NOLA to the matrix"): each layer's own parameters — a classifier's weight and bias
    together — flattened, concatenated and viewed as one rows × columns matrix, rows the
    :func:`near_square_rows` of their count, W' = W + (alpha / rank) · B A, split back into the
    layer's tensors. A slot here is a layer (its ``param`` is the layer's name); the layer's
    tensors are ``members``. Normalisation layers (:data:`NORMALISATION`) are not generated:
    the paper trains BatchNorm's 9,600 affine numbers directly on ResNet-18. A tensor shared
    by two layers (GPT-2's tied embedding and output) belongs to the first."""

    kind = "layer-low-rank"

    def __init__(self, members: dict[str, list[tuple[str, tuple[int, ...]]]], rank: int, alpha: float) -> None:
        self.members = members
        slots = []
        for layer, tensors in members.items():
            size = sum(math.prod(shape) for _, shape in tensors)
            rows = near_square_rows(size)
            slots.append(MatrixSlot(layer, layer, 0, rows, rows, size // rows, False))
        super().__init__(slots, rank, alpha)

    @classmethod
    def of(cls, model: nn.Module, rank: int, alpha: float) -> LayerLowRankLayout:
        """Every layer of ``model`` with parameters of its own, normalisation layers left out,
        named by its module name (``root`` for the model's own, a ViT's position embedding)."""
        seen: set[int] = set()
        members: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for name, module in model.named_modules():
            tensors = []
            for leaf, param in module.named_parameters(recurse=False):
                if id(param) not in seen:
                    seen.add(id(param))
                    tensors.append((f"{name}.{leaf}" if name else leaf, tuple(param.shape)))
            if tensors and not isinstance(module, NORMALISATION):
                members[name or "root"] = tensors
        if not members:
            raise UcdbenchError("the model has no layer but normalisation layers to generate")
        return cls(members, rank, alpha)

    @property
    def params(self) -> list[str]:
        return [name for tensors in self.members.values() for name, _ in tensors]

    def compose(self, generated: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        weights = {}
        for slot in self.slots:
            delta = (generated[f"{slot.name}.B"] @ generated[f"{slot.name}.A"]) * self.scale
            tensors = self.members[slot.name]
            pieces = delta.reshape(-1).split([math.prod(shape) for _, shape in tensors])
            for (name, shape), piece in zip(tensors, pieces):
                weights[name] = base[name] + piece.view(shape)
        return weights

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "rank": self.rank, "alpha": self.alpha,
                "layers": {layer: [[name, list(shape)] for name, shape in tensors]
                           for layer, tensors in self.members.items()}}


def layout_from_spec(spec: dict[str, Any], network: nn.Module) -> DirectLayout | LowRankLayout:
    """The layout an artifact's ``layout`` metadata describes, over ``network`` (the task's
    architecture); a UcdbenchError when the artifact was made for another architecture."""
    params = {name: tuple(p.shape) for name, p in network.named_parameters()}
    whole = {cls.kind: cls for cls in (DirectLayout, CombinationLayout)}
    if spec["kind"] in whole:
        layout: DirectLayout | LowRankLayout = whole[spec["kind"]](network)
        fits = layout.spec() == spec
    elif spec["kind"] == LayerLowRankLayout.kind:
        members = {layer: [(name, tuple(shape)) for name, shape in tensors] for layer, tensors in spec["layers"].items()}
        layout = LayerLowRankLayout(members, spec["rank"], spec["alpha"])
        fits = all(params.get(name) == shape for tensors in members.values() for name, shape in tensors)
    else:
        layout = LowRankLayout([MatrixSlot(**slot) for slot in spec["slots"]], spec["rank"], spec["alpha"])
        fits = all(slot.param in params and math.prod(params[slot.param]) == slot.total_rows * slot.in_features
                   for slot in layout.slots)
    if not fits:
        raise UcdbenchError("this artifact was made for a different architecture than the task's "
                            f"{type(network).__name__}: build the task with the configuration of the run that wrote it")
    return layout
