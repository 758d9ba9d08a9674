"""Training, artifact and reconstruction shared by the random-basis methods (MCNC, NOLA, PRANC).

A method here supplies only its :class:`Code` — trainable coefficients plus a generator that is
regenerated from a seed — and the harness-facing rest is the same for all of them:

1. build the network (random init to train from scratch, or the task's pretrained base for
   adapters) and the layout of what the code generates (:mod:`.layouts`);
2. train only the coefficients (and, for adapters on new classes, the task head, kept dense)
   with the shared loop, the network called with the generated weights through
   ``torch.func.functional_call``;
3. hand the harness the plain dense network training produced (the generated weights written
   into it, its BatchNorm statistics as training left them) and an artifact holding the
   coefficients, the seeds, the dense head of adapters and every buffer of the network. The
   official PRANC code stores BatchNorm's running means and variances beside its coefficients
   the same way (``main_1gpu.py``, ``save_signature``: ``means.pt``, ``vars.pt``); the batch
   counters are stored too, as part of the state (BatchNorm with ``momentum=None`` reads them).

Reconstruction is a function of the artifact and the task alone: θ0 is drawn again from the
artifact's init seed with the task's architecture (from scratch) or is the task's pretrained
base (adapters), the code is rebuilt from its spec and the stored coefficients, and the stored
tensors replace the base's. The reconstruction evaluation compares that complete state with
the scored network's, so anything not stored or not regenerable fails there.

The scored model is dense: these methods save storage, not compute, so its latency and FLOPs
are the base network's, as they would be once deployed.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn
from torch.func import functional_call

from ucdbench.api import (
    Artifact, ArtifactKind, Config, FitContext, ImageClassification, LanguageModeling, Outcome, PerPreset, Reconstruct,
    Setting, Task, UcdbenchError, held_base, initial_model, model_with_state, persistent_buffers, pretrained_base,
    state_with, stored_dense, train,
)
from ucdbench_plugins.shared.method_settings import low_rank_settings, targets_setting, training_settings
from ucdbench_plugins.shared.outcome import ModelOutcome
from ucdbench_plugins.shared.reparam.layouts import DirectLayout, LowRankLayout, adapter_slots, layout_from_spec
from ucdbench_plugins.shared.reparam.seeded import rng_for

MODES = ("scratch", "adapter")
Layout = DirectLayout | LowRankLayout


class Code(nn.Module, ABC):
    """Trainable coefficients and a seeded generator that turn them into a layout's tensors."""

    uses_initial: ClassVar[bool] = True
    """Whether the code adds its output to the layout's starting values (LoRA's init of A)."""

    @abstractmethod
    def forward(self) -> dict[str, torch.Tensor]:
        """The tensors the layout wants, differentiable in the coefficients."""

    @abstractmethod
    def stored(self) -> dict[str, torch.Tensor]:
        """What the artifact keeps: the coefficients, nothing regenerable."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON metadata that, with :meth:`stored`, rebuilds this code (seed, sizes, generator device)."""

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: dict[str, Any], wanted: dict[str, tuple[int, ...]],
                  initial: dict[str, torch.Tensor] | None, device: torch.device) -> Code:
        """A code with ``spec``'s generator on ``device``, its coefficients at their start values."""

    @classmethod
    def rebuild(cls, spec: dict[str, Any], tensors: dict[str, torch.Tensor], wanted: dict[str, tuple[int, ...]],
                initial: dict[str, torch.Tensor] | None, device: torch.device) -> Code:
        """The code of an artifact, on ``device``: the generator from the spec, the coefficients from the file."""
        code = cls.from_spec(spec, wanted, initial, device)
        with torch.no_grad():
            for name, coefficients in code.stored().items():
                coefficients.copy_(tensors[name])
        return code


class FlatCode(Code):
    """A code that generates one flat vector for all wanted tensors (MCNC, PRANC): chunks of the
    concatenated parameters, added to the layout's starting values where it has them."""

    def __init__(self, wanted: dict[str, tuple[int, ...]], initial: dict[str, torch.Tensor] | None) -> None:
        super().__init__()
        self.names = list(wanted)
        self.shapes = [tuple(wanted[n]) for n in self.names]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.total = sum(self.sizes)
        start = torch.cat([initial[n].reshape(-1) for n in self.names]) if initial is not None else None
        self.register_buffer("start", start)

    @abstractmethod
    def offsets(self) -> torch.Tensor:
        """The generated flat vector of ``self.total`` values."""

    def forward(self) -> dict[str, torch.Tensor]:
        flat = self.offsets()
        if self.start is not None:
            flat = self.start + flat
        return {name: piece.view(shape) for name, piece, shape in zip(self.names, flat.split(self.sizes), self.shapes)}


class Reparameterised(nn.Module):
    """The network called with weights generated by ``code`` (training only)."""

    def __init__(self, network: nn.Module, code: Code, layout: Layout) -> None:
        super().__init__()
        self.network, self.code, self.layout = network, code, layout

    def generated_weights(self) -> dict[str, torch.Tensor]:
        base = {name: p for name, p in self.network.named_parameters() if name in set(self.layout.params)}
        return self.layout.compose(self.code(), base)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return functional_call(self.network, self.generated_weights(), args, kwargs)


def random_basis_settings(mode: str) -> dict[str, Setting]:
    """The settings every random-basis method has — the mode (``mode`` by default), the
    adapter's targets and shape, training but the learning rate — for a method to merge with
    its own (which may replace one: NOLA's ``auto``-or-a-number rank and alpha)."""
    return {
        "mode": Setting(mode, "scratch: generate every weight of a randomly initialised network; adapter: generate "
                              "LoRA factors on the pretrained base (the task head trained dense)", choices=MODES),
        "targets": targets_setting("the adapted matrices (mode=adapter): module names or their last parts, q/k/v "
                                   "for those rows of a fused attention projection; auto: Q and V of GPT-2, fc1 and "
                                   "fc2 of a ViT, else every Linear/Conv2d but the head"),
        **low_rank_settings(rank=PerPreset(4, 4, 8), alpha=PerPreset(8.0, 8.0, 16.0)),
        # from scratch, a few numbers must learn a whole network: more passes than an adapter
        **training_settings(epochs=PerPreset(3, 60 if mode == "scratch" else 20, 100),
                            batch_size=PerPreset(64, 64, 128), weight_decay=0.0),
    }


class RandomBasisMethod(ModelOutcome, ABC):
    """Base of MCNC, NOLA and PRANC: subclasses declare their ``settings`` (on
    :func:`random_basis_settings`) and give :meth:`make_code`."""

    code_class: ClassVar[type[Code]]

    requires = ((ImageClassification, LanguageModeling),)
    """Reparameterises the Linear/Conv weights of a network: an image classifier or a language model."""

    @abstractmethod
    def make_code(self, wanted: dict[str, tuple[int, ...]], initial: dict[str, torch.Tensor] | None,
                  config: Config, seed: int, rng: str, device: torch.device) -> Code:
        """This method's trainable code for the layout's wanted tensors."""

    def configure(self, network: nn.Module, config: Config, preset: str) -> Config:
        """Settings that depend on the network (NOLA's form for a ViT's MLP); as given by default."""
        return config

    def scratch_layout(self, network: nn.Module, config: Config) -> Layout:
        """What training from scratch generates: every parameter (overridden by NOLA and PRANC)."""
        return DirectLayout(network)

    def layout(self, network: nn.Module, config: Config) -> Layout:
        if config["mode"] == "scratch":
            return self.scratch_layout(network, config)
        return LowRankLayout(adapter_slots(network, config["targets"]), config["rank"], config["alpha"])

    def _initial(self, layout: Layout, seed: int, device: torch.device, rng: str) -> dict[str, torch.Tensor] | None:
        return layout.initial(seed, device, rng) if self.code_class.uses_initial else None

    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        adapter = config["mode"] == "adapter"
        network = task.base_model(pretrained=adapter)
        config = self.configure(network, config, ctx.preset)
        layout = self.layout(network, config)
        head = self.dense_parameters(task, network, layout, config)
        for name, param in network.named_parameters():
            param.requires_grad_(name in head)
        network.to(ctx.device)
        rng = rng_for(ctx.device)
        code = self.make_code(layout.wanted(), self._initial(layout, ctx.seed, ctx.device, rng), config, ctx.seed,
                              rng, ctx.device)
        model = Reparameterised(network, code.to(ctx.device), layout)
        params = [*code.parameters(), *(p for n, p in network.named_parameters() if n in head)]
        metrics = train(model, task, ctx, params=params, epochs=config["epochs"], lr=config["lr"],
                        batch_size=config["batch_size"], weight_decay=config["weight_decay"], desc=self.name)
        params_now = dict(network.named_parameters())
        with torch.no_grad():  # the scored weights are what training produced, not a rebuild from the file
            for name, value in model.generated_weights().items():
                params_now[name].copy_(value)
        network.requires_grad_(False).eval()

        tensors = self.stored_tensors(code, network, head)
        artifact = Artifact(tensors, {"method": self.name, "mode": config["mode"], "code": code.spec(),
                                      "layout": layout.spec(), "head": head, "init_seed": task.seed},
                            dense=tuple(name for name in tensors if name not in code.stored()),
                            kind=ArtifactKind.ADAPTER if config["mode"] == "adapter" else ArtifactKind.MODEL)
        stored = sum(t.numel() for t in code.stored().values())
        return self.outcome(task, network, artifact,
                            {**metrics, "coefficients": float(stored),
                             "generated_values": float(sum(math.prod(s) for s in layout.wanted().values()))})

    def dense_parameters(self, task: Task, network: nn.Module, layout: Layout, config: Config) -> list[str]:
        """The parameters trained and stored dense beside the code: an adapter's new-class
        head; from scratch, whatever the layout does not generate (PRANC's BatchNorm affine),
        as there is no base that holds it."""
        if config["mode"] == "scratch":
            return [n for n, _ in network.named_parameters() if n not in set(layout.params)]
        task_head = set(task.head_parameters(network)) if isinstance(task, ImageClassification) else set()
        head = [n for n, _ in network.named_parameters() if n in task_head]
        if set(head) & set(layout.params):
            raise UcdbenchError(f"{self.name}: the adapter targets include the task head, which is trained dense; "
                                "name other targets")
        return head

    @staticmethod
    def stored_tensors(code: Code, network: nn.Module, dense: list[str]) -> dict[str, torch.Tensor]:
        """What the artifact stores: the code's coefficients, the ``dense`` parameters and every
        persistent buffer of the network (BatchNorm's statistics and counters, as training left
        them) — everything a paper's count of stored numbers can include."""
        params = dict(network.named_parameters())
        return {**{name: t.detach() for name, t in code.stored().items()},
                **{name: params[name].detach().clone() for name in dense},
                **{name: t.clone() for name, t in persistent_buffers(network).items()}}

    def outcome(self, task: Task, model: nn.Module, artifact: Artifact,
                metrics: dict[str, float] | None = None) -> Outcome:
        """The dense network, reconstructed from the artifact by :meth:`reconstructor`."""
        return Outcome(model=model, artifact=artifact, reconstruct=self.reconstructor(task),
                       metrics=dict(metrics or {}))

    # -- reconstruction: the artifact and the task, nothing from training ------------------------

    def rebuilt_state(self, network: nn.Module, artifact: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
        """The complete state the artifact describes around ``network`` — θ0 drawn from the
        artifact's init seed, or the task's pretrained base — on ``device``: the code rebuilt
        from its spec and stored coefficients, composed with the base, and the stored head and
        buffers in place of the base's."""
        meta = artifact.metadata
        layout = layout_from_spec(meta["layout"], network)
        spec = meta["code"]
        with torch.no_grad():
            params = dict(network.named_parameters())
            base = {name: params[name].detach() for name in layout.params}
            start = self._initial(layout, spec["seed"], device, spec["rng"])
            code = self.code_class.rebuild(spec, artifact.tensors, layout.wanted(), start, device)
            return state_with(network, {**layout.compose(code(), base), **stored_dense(artifact, device)})

    def base_network(self, task: Task, metadata: dict[str, Any]) -> nn.Module:
        """What the artifact is added to, from the task: θ0 regenerated from the init seed
        (from scratch) or the task's pretrained base (adapters)."""
        if metadata["mode"] == "adapter":
            return pretrained_base(task)
        return initial_model(task, metadata["init_seed"])

    def reconstructor(self, task: Task) -> Reconstruct:
        """artifact, device → complete state, for the reconstruction evaluation. From scratch,
        θ0 is regenerated from the seed on every call (it is part of what rebuilding costs); an
        adapter's pretrained base is held once per device, as its user holds it."""
        pretrained = held_base(task)

        def reconstruct(artifact: Artifact, device: torch.device) -> dict[str, torch.Tensor]:
            if artifact.metadata["mode"] == "adapter":
                network = pretrained(device)
            else:
                network = self.base_network(task, artifact.metadata).to(device)
            return self.rebuilt_state(network, artifact, device)

        return reconstruct

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        network = self.base_network(task, artifact.metadata).to(device)
        return model_with_state(network, self.rebuilt_state(network, artifact, device))
