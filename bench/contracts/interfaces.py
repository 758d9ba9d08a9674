"""The four plugin interfaces (Task, Method, Hardware, Evaluation) and what flows between them.

A run is: the harness builds a :class:`Task`, asks a :class:`Method` to ``fit`` it, and gets an
:class:`Outcome` back. The harness — never the method — then applies every applicable
:class:`Evaluation` to that outcome on a :class:`Hardware`. Methods never time or count
themselves, so every number in a leaderboard is measured the same way for every method.

Every configurable thing (task, method, evaluation) declares its keys and their defaults per
preset in ``defaults(preset)``; the harness rejects unknown keys, so a typo in ``--set`` is an
error, never a silently ignored setting.

This module imports no torch at import time; torch types appear in annotations only.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ucdbench.contracts.capabilities import missing_capabilities
from ucdbench.contracts.settings import PRESETS, PerPreset, Setting  # noqa: F401  (PRESETS, PerPreset: re-exported)
from ucdbench.core.errors import DivergedError, UcdbenchError  # noqa: F401  (the contracts' errors: re-exported)

if TYPE_CHECKING:
    import torch
    from torch import nn

Config = dict[str, Any]


class FigureKind(str, Enum):
    """How a figure may be compared between two runs of the same setting (``ucdbench compare``).

    A ``str`` enum, so a record stores the plain value (``"exact"``) and JSON needs no help.
    """

    EXACT = "exact"
    """Deterministic for a given setting: stored bytes and scalars, FLOPs of a model whose
    compute does not depend on its input, ``weights_equal``. Any change is a change of the
    method or the harness, so two runs must agree to the last digit."""
    QUALITY = "quality"
    """Varies with the seed or the measurement and has no raw samples in the record (accuracy,
    perplexity, attack success, energy per sample): compared across seeds with a paired test."""
    TIMING = "timing"
    """Derived from timed calls (p50, p90, samples/s): compared on the evaluation's raw per-call
    times, which it keeps in its results as ``samples_ms`` (a list of milliseconds), never on
    one summary number."""

    @classmethod
    def of(cls, figure: Mapping[str, Any]) -> FigureKind:
        """The kind of a figure as a record stores it (``asdict(metric)``); records written
        before figures had a kind read as :attr:`QUALITY`, the kind that assumes least."""
        return cls(figure.get("kind", cls.QUALITY.value))


@dataclass(frozen=True)
class ChartAxis:
    """Declares a figure as the x axis of a leaderboard chart (``Metric(..., chart=ChartAxis(...))``).

    Each section of a task's leaderboard draws one chart per declared axis that its rows report:
    the task's primary metric (or ``y``) against this figure, each row's mean over seeds with
    its confidence interval, and the Pareto frontier. The declaration travels in the record with
    the evaluation's figures, so leaderboards need no plugin to draw it and name no figure.

    ``saving`` names a figure *of the same evaluation* that says whether a row saves what the
    chart is about (stored bytes as a percentage of the dense model's: a row saves when its mean
    is below ``saves_below``). A chart with a ``saving`` figure is drawn where some row saves,
    and shows the rows that save it and the rows that save nothing on any such chart (the
    references); a chart without one shows every row that reports both axes.
    """

    name: str
    """The chart's name, unique among charts: its file name (``<preset>-<settings>-<name>.png``)."""
    label: str
    """The x axis's label (the direction of the figure is added to it)."""
    title: str = "{y} against {x}"
    """The chart's title; ``{y}`` is replaced by the y figure's name, ``{x}`` by ``label``."""
    log_scale: bool = False
    """Draw the x axis on a log scale (sizes and rates spanning orders of magnitude) where the
    chart's rows span a decade or more (a linear one otherwise); the axis label says which."""
    y: str | None = None
    """Another figure of the same evaluation to plot on the y axis; None: the task's primary metric."""
    saving: str | None = None
    saves_below: float = 0.0
    exclusive: bool = False
    """A row this chart shows is shown on no chart with a ``saving`` figure (a compute attack's
    small stored patch is not a saving of storage)."""
    diagonal: str | None = None
    """Where both axes measure one quantity: draw the line y = x, with this legend label."""


@dataclass(frozen=True)
class Metric:
    """A named figure with a direction, so leaderboards know what "better" means.

    ``higher_is_better`` is None for a figure with no better direction (the attacked FLOPs of a
    compute attack are better for the attacker and worse for the defender). ``headline``
    figures are the ones ``ucdbench run`` prints in its one-line summary of each run. ``kind``
    says how the figure may be compared between runs (:class:`FigureKind`). ``chart`` declares
    the figure an x axis leaderboards chart the rows against (:class:`ChartAxis`; an
    evaluation's figures only).
    """

    name: str
    higher_is_better: bool | None
    unit: str = ""
    description: str = ""
    headline: bool = False
    kind: FigureKind = FigureKind.QUALITY
    chart: ChartAxis | None = None
    interval_of: str | None = None
    """For a figure that is itself the half-width of another figure's interval within one run
    (a few-shot task's 95% interval over episodes): that figure's name. Pages show its mean over
    seeds beside it, with no interval of an interval."""


@dataclass(frozen=True)
class ReportedFigure:
    """A figure a paper reports, shown beside the reproduced one of runs in the paper's setting.

    ``metric`` names a figure a run produces: a figure name (``"top1"``), matched in every
    evaluation that reports it, or ``"evaluation/figure"`` for one evaluation's. ``where``
    narrows the runs the figure stands beside to those in the setting it quotes: method settings
    by name, task settings as ``"task.NAME"``, each compared with the run's resolved value
    (MCNC's sine-MLP figure must not stand beside its ``activation=none`` ablation).
    """

    task: str
    metric: str
    value: float
    setting: str
    source: str
    where: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, task: str, method_config: Mapping[str, Any], task_config: Mapping[str, Any]) -> bool:
        """Whether a run of ``task`` with these resolved configurations is in this figure's setting."""
        if task != self.task:
            return False
        for key, wanted in self.where.items():
            config, name = (task_config, key[5:]) if key.startswith("task.") else (method_config, key)
            if name not in config or config[name] != wanted:
                return False
        return True


@dataclass(frozen=True)
class Paper:
    """The publication a method comes from, for the method's page on the site: where to read it
    and the code its authors released, so a reader can check the implementation against both."""

    title: str
    venue: str
    """Where and when it appeared: ``"ICLR 2024"``, ``"arXiv 2023"``."""
    url: str
    """The paper (an arXiv abstract page, the proceedings' page)."""
    code: str = ""
    """The official code's repository; "" where none is public."""
    code_note: str = ""
    """What the implementation follows where the official code could not be read, or how it
    departs from it; "" where it follows the official code."""


@dataclass(frozen=True)
class MemoryNeed:
    """Memory a method or an evaluation holds on the run's device at its peak, for its settings,
    declared before anything runs (:meth:`Method.memory_needs`, :meth:`Evaluation.memory_needs`).

    The runner adds up one plugin's needs and refuses a run (exit 2) whose needs exceed the memory
    its device reports (:meth:`Hardware.memory_bytes`), naming the estimate and ``setting``: what
    the user lowers (or turns off) to fit, as ``--set`` writes it for that plugin (an evaluation's
    is shown as ``eval.NAME.SETTING``).
    """

    bytes: int
    what: str
    """What holds the memory, in words (``"one draw of 500 bases × 500000 values"``)."""
    setting: str


class Configurable:
    """Anything with typed settings that ``--set`` may override (see :class:`ucdbench.api.Setting`)."""

    settings: ClassVar[Mapping[str, Setting]] = {}
    """Every setting, with its default (per preset where it differs), help and allowed values."""

    @classmethod
    def defaults(cls, preset: str) -> Config:
        """The configuration keys and their default values at ``preset``."""
        return {name: setting.default_at(preset) for name, setting in cls.settings.items()}

    @classmethod
    def declared_settings(cls, preset: str) -> dict[str, Setting]:
        """``settings``, or for a plugin that only overrides :meth:`defaults` (the 0.x style),
        settings inferred from its defaults: checked against their default's type only (any
        number for a number, since such a default cannot say whether 2.5 epochs is meant)."""
        if cls.settings:
            return dict(cls.settings)
        number = (int, float)
        return {name: Setting(value, "(declared through defaults(): no help)",
                              type=number if isinstance(value, number) and not isinstance(value, bool) else None)
                for name, value in cls.defaults(preset).items()}


# --------------------------------------------------------------------------------------------
# Task
# --------------------------------------------------------------------------------------------


class Task(Configurable, ABC):
    """Data, a base model and scoring.

    A task also subclasses the capabilities it offers methods (in :mod:`ucdbench.api`:
    ``ImageClassification``, ``LanguageModeling``, ``SceneReconstruction``); a method's
    ``requires`` names those it needs. Construction is cheap (no data is read: ``ucdbench list
    --matrix`` builds every task) and never fails for data that is missing;
    :meth:`unavailable_reason` says what is missing before anything runs, and :meth:`prepare`
    loads or generates the data (cached on disk where it is expensive).
    """

    name: ClassVar[str]
    metrics: ClassVar[tuple[Metric, ...]]
    primary_metric: ClassVar[str]
    is_default: ClassVar[bool] = False
    """True for the task ``ucdbench run`` uses when no ``--task`` is given; where several
    declare it, the first registered wins (as with names: built-ins first)."""
    flops_uncountable: ClassVar[str | None] = None
    """None (the default) when ``FlopCounterMode`` sees the compute of :meth:`forward`
    (matmuls, convolutions, attention); otherwise why it cannot, for example a forward whose
    work is elementwise ops or custom kernels torch has no FLOP formula for (a Gaussian
    rasteriser). The ``flops`` evaluation is then skipped with this reason in the record's
    ``skipped``, rather than reporting the small countable part as if it were the cost."""

    def __init__(self, preset: str, seed: int, config: Mapping[str, Any]) -> None:
        self.preset = preset
        self.seed = seed
        self.config: Config = dict(config)

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def unavailable_reason(self) -> str | None:
        """None when what this task is configured to read is there; otherwise what is missing
        and how to supply it (the environment variable or ``--set task.KEY=...`` to set).

        The runner asks before the first run of an invocation starts, so a dataset that is not
        configured, or not where its setting or variable says, is a usage error (exit 2) with
        the fix rather than a failed run. Be cheap: check that the configured folders and files
        exist, read no data. The default, for a task whose data ships with it: nothing to check.
        """
        return None

    @abstractmethod
    def prepare(self) -> None:
        """Load or build the splits for this preset and seed; called once before ``fit``."""

    @abstractmethod
    def base_model(self, pretrained: bool = True) -> nn.Module:
        """A fresh copy of the task's base model (fp32, on CPU).

        ``pretrained=True`` gives weights pretrained in-suite on data disjoint from the
        task's splits (cached, keyed by the model's config); ``False`` a random init, for
        methods that train from scratch, drawn from the task's seed: the same seed and
        configuration give the same weights, so a method can regenerate its θ0 from the seed
        instead of storing it (:func:`ucdbench.api.initial_model`).
        """

    @abstractmethod
    def train_batches(self, batch_size: int, epochs: float) -> Iterable[Any]:
        """Training batches (on CPU) for ``epochs`` passes, shuffled by the task's seed."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        """The task's training loss of ``model`` on one batch."""

    @abstractmethod
    def evaluate(
        self,
        model: nn.Module,
        device: torch.device,
        input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """The task's metrics on its eval split; ``input_transform`` (an attack or a
        trigger) is applied to each input batch before the model sees it."""

    @abstractmethod
    def sample_inputs(self, batch_size: int, device: torch.device) -> Any:
        """Real eval inputs for latency and FLOPs, in the form :meth:`forward` takes."""

    def forward(self, model: nn.Module, inputs: Any) -> Any:
        """Run ``model`` on inputs from :meth:`sample_inputs` (override for non-tensor inputs)."""
        return model(inputs)


# --------------------------------------------------------------------------------------------
# Method and its Outcome
# --------------------------------------------------------------------------------------------


class ArtifactKind(str, Enum):
    """What a run's artifact is, so that reports compare like with like: storage is ranked only
    among artifacts that store a model (or a scene), and an attack's row shows the attack, not
    its target's model again. The harness applies an evaluation only to the kinds it declares it
    measures (:attr:`Evaluation.measures`). A ``str`` enum: records store the plain value."""

    MODEL = "model"
    """A model's complete weights, compressed (MCNC, PRANC) or as they are (a full fine-tune)."""
    ADAPTER = "adapter"
    """A change to a base model the user already holds (LoRA, NOLA, VeRA)."""
    SCENE = "3d-scene"
    """A 3D scene (Gaussians), compressed or not."""
    INPUT_TRANSFORM = "input-transform"
    """What is applied to another run's model's inputs (an adversarial patch): the model it
    attacks is its clean control's (:attr:`Outcome.clean_control`), not this run's product."""
    AUGMENTATION = "augmentation"
    """A recipe that makes training data (a few-shot augmentation): no weights are stored."""


@dataclass
class Artifact:
    """What a method must store for its result to be rebuilt, and nothing else.

    ``tensors`` are written with safetensors; ``metadata`` (JSON-serialisable: seeds, shapes,
    names) travels in the same file's header, as does ``kind``. ``dense`` names the tensors that
    are plain state stored as it is (a classifier head, norms, BatchNorm's running statistics and
    counters), as opposed to compressed codes.
    """

    tensors: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    dense: tuple[str, ...] = ()
    kind: ArtifactKind = ArtifactKind.MODEL

    def stored_scalars(self) -> int:
        return sum(int(t.numel()) for t in self.tensors.values())

    def dense_scalars(self) -> int:
        return sum(int(self.tensors[name].numel()) for name in self.dense)


Reconstruct = Callable[[Artifact, "torch.device"], "dict[str, torch.Tensor]"]


@dataclass(frozen=True)
class ControlRow:
    """A leaderboard row named by its method and the method settings it ran with (matched
    against each run's resolved settings, on the same task settings, preset and hardware)."""

    method: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What ``Method.fit`` hands to the harness to measure.

    - ``model``: the model the harness scores, times and counts.
    - ``artifact``: the stored form of the result (None for methods that store nothing new).
    - ``reconstruct``: artifact → the *complete state* of the scored model on a device: every
      parameter and persistent buffer (BatchNorm statistics included), under the names of
      :meth:`scored_state`. It may use what the task gives — the architecture, a seed's random
      init, the pretrained base the user holds — and the artifact, never the model ``fit``
      trained: the harness reads the artifact back from its file, times this, and compares
      the result with :meth:`scored_state` tensor by tensor (the model-state helpers of :mod:`ucdbench.api`).
    - ``dense_weights``: the complete state of the scored model, where ``model.state_dict()``
      is not it under the rebuilt names (a PEFT-wrapped model: its merged state); None, the
      default, means ``model.state_dict()``.
    - ``input_transform``: an attack or trigger the harness applies to eval inputs.
    - ``metrics``: method-specific figures (final training loss, attack loss, ...).
    - ``extras``: method-specific objects an evaluation may look for (documented by the
      evaluation that reads them, e.g. the clean target of an attack).
    - ``encoder``: the representation the method learned, where it is not simply the scored
      model's: a module mapping the task's inputs (B, ...) to feature vectors (B, D). None, the
      default, means the task's own view of the scored model
      (:meth:`ImageClassification.encoder`: what the classifier head receives). The
      representation evaluations (``knn``, ``linear-probe``) read it; so does a run that
      consumes this one as a teacher.
    - ``clean_control``: for an :attr:`ArtifactKind.INPUT_TRANSFORM` artifact, the leaderboard
      row of the model it attacks, whose clean figures are the attack's control: pages link the
      attack's row to it instead of measuring the same model again.
    """

    model: nn.Module
    artifact: Artifact | None = None
    reconstruct: Reconstruct | None = None
    dense_weights: Callable[[], dict[str, torch.Tensor]] | None = None
    input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    encoder: nn.Module | None = None
    clean_control: ControlRow | None = None

    @property
    def kind(self) -> ArtifactKind:
        """What this outcome's artifact is; a method that stores nothing new scores a model as it is."""
        return self.artifact.kind if self.artifact is not None else ArtifactKind.MODEL

    def scored_state(self) -> dict[str, torch.Tensor]:
        """The complete state of what was scored, which reconstruction must rebuild."""
        return self.dense_weights() if self.dense_weights is not None else self.model.state_dict()


@dataclass
class ReferencedRun:
    """A run another run consumes (a :class:`ucdbench.api.RunReference` setting's value),
    rebuilt from its artifact file and its own task alone, as a user holding the file would."""

    key: str
    """The referenced run's key (the referring record names it)."""
    method: str
    task: Task
    """The referenced run's task, prepared, with the configuration it ran with."""
    model: nn.Module
    """Its scored model, rebuilt from the artifact (eval mode, frozen)."""
    encoder: nn.Module | None
    """Its representation: the task's view of the model (:func:`ucdbench.api.encoder_of`),
    or None where the task has none."""
    record: dict[str, Any] = field(default_factory=dict)


class Curves:
    """A run's training curves: per-epoch values a fit reports, which the harness keeps in the
    run's record (``record["curves"]``: name → ``[[epoch, value], ...]``) for leaderboards, the
    site and the sinks to draw. :func:`ucdbench.api.train` logs its loss each epoch; a method with
    a loop of its own logs through ``ctx.curves.log(...)`` as it goes."""

    def __init__(self, on_log: Callable[[], None] | None = None) -> None:
        self._points: dict[str, list[list[float]]] = {}
        self._on_log = on_log
        """Called after each point (the harness: to show the curves in the running record, which
        the sinks follow while the run fits)."""

    def log(self, name: str, epoch: float, value: float) -> None:
        """One point of curve ``name`` (``"train_loss"``, ``"val_accuracy"``): its value at the end
        of ``epoch`` (fractional where a fit runs part of one). A value that is not a finite
        number is a fit's fault, told here rather than in the record."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"curve {name!r} at epoch {epoch}: {value} is not a finite number")
        self._points.setdefault(name, []).append([float(epoch), value])
        if self._on_log is not None:
            self._on_log()

    def as_dict(self) -> dict[str, list[list[float]]]:
        """Name → its points in the order logged (a copy: what the record keeps)."""
        return {name: [list(point) for point in points] for name, points in self._points.items()}


@dataclass
class FitContext:
    """What the harness gives a method besides the task and its config."""

    device: torch.device
    seed: int
    preset: str
    progress: Callable[..., Iterable[Any]]
    """``progress(iterable, desc=..., total=...)``: a progress bar on a terminal, silent otherwise."""
    references: dict[str, list[ReferencedRun]] = field(default_factory=dict)
    """setting name → the runs a run-reference setting names, in order (empty when the method
    declares none)."""
    curves: Curves = field(default_factory=Curves)
    """Where per-epoch values go (:class:`Curves`); the harness records them with the run."""


class Method(Configurable, ABC):
    """What a paper proposes. Registered under ``name``; instantiated once per run."""

    name: ClassVar[str]
    paper: ClassVar[Paper | None] = None
    """The publication this method comes from (None for a baseline with none of its own).
    Records carry it (``record["method"]["paper"]``) for the site's method pages."""
    family: ClassVar[str] = ""
    """What kind of method it is, for readers filtering a leaderboard: ``"weight compression"``,
    ``"adversarial attack"``, ``"representation learning"``, ... ("" where none is declared).
    Records carry it (``record["method"]["family"]``)."""
    reported: ClassVar[tuple[ReportedFigure, ...]] = ()
    reported_unavailable: ClassVar[str] = ""
    """Where the paper's own figures could not be reached, why (what was searched), so the
    leaderboard says so instead of showing nothing; "" where they were (or none are expected).
    Records carry it (``record["reported_unavailable"]``)."""
    requires: ClassVar[tuple[type | tuple[type, ...], ...]] = ()
    """The task capabilities (:class:`ucdbench.api.Capability`) this method needs; an entry that is
    a tuple is met by any one of them."""
    reference_row: ClassVar[bool] = False
    """True for a method every other row of a leaderboard section is compared with, seed by
    seed, on the task's primary metric (the base model as it is, training every weight).
    Records carry the declaration (``record["method"]["reference_row"]``)."""

    def supports(self, task: Task) -> str | None:
        """None if this method can run on ``task``, else the reason it cannot: the capabilities
        it needs that the task lacks, else :meth:`unsupported_reason`."""
        missing = missing_capabilities(self.requires, task)
        if missing:
            return f"needs {' and '.join(missing)}"
        return self.unsupported_reason(task)

    def settings_problem(self, task: Task, config: Config) -> str | None:
        """What is wrong with running ``config`` on ``task`` that no single setting's check can
        see (a share of the training set that rounds to nothing, say) and how to fix it, or None:
        asked before any run starts, on the task constructed but not prepared (prepare it here
        if the answer needs its data, and keep that cheap). The default: nothing."""
        return None

    def unsupported_reason(self, task: Task) -> str | None:
        """A reason beyond the capabilities (for example: needs a ViT base), or None."""
        return None

    def memory_needs(self, task: Task, config: Config) -> Sequence[MemoryNeed]:
        """What ``fit`` with ``config`` holds at once on the device, where the settings decide it
        (random bases, distance blocks): asked before any run starts, on the task constructed
        but not prepared (no data read). The default: nothing declared."""
        return ()

    @abstractmethod
    def fit(self, task: Task, config: Config, ctx: FitContext) -> Outcome:
        """Train (or attack, or compress) and return what the harness should measure."""

    def rebuild_model(self, task: Task, artifact: Artifact, device: torch.device) -> nn.Module:
        """The scored model rebuilt from ``artifact`` and what ``task`` gives (its architecture,
        its pretrained base) alone, in eval mode: what a user holding only the file gets.
        Used by :func:`ucdbench.api.rebuild_run`; methods that can say how override this."""
        raise UcdbenchError(f"method {self.name!r} does not say how to rebuild its model from an artifact")

    def rebuild_outcome(self, task: Task, artifact: Artifact | None, device: torch.device) -> Outcome:
        """The :class:`Outcome` that :meth:`fit` returned, rebuilt from ``artifact`` and what
        ``task`` gives alone (``task`` is prepared, with the run's configuration and seed).

        The harness fits a run once and measures an evaluation added or changed later on this
        rebuilt outcome, never by fitting again, so everything an evaluation reads must come
        back: the model, the artifact, ``reconstruct`` (the same function fit's outcome holds:
        reconstruction times it), ``dense_weights``, the input transform, ``extras`` and the
        encoder. ``metrics`` need not: the record keeps fit's. ``artifact`` is None for a method
        that stores nothing new (its outcome is rebuilt from the task alone).

        The default gives the model of :meth:`rebuild_model` and reconstructs through it; a
        method whose outcome carries more (an attack, extras, its own reconstruction) overrides
        this.
        """
        if artifact is None:
            raise UcdbenchError(f"method {self.name!r} stores no artifact and does not say how to rebuild its outcome "
                                "without one (override Method.rebuild_outcome)")

        def reconstruct(stored: Artifact, on: torch.device) -> dict[str, torch.Tensor]:
            return self.rebuild_model(task, stored, on).state_dict()

        return Outcome(model=self.rebuild_model(task, artifact, device), artifact=artifact, reconstruct=reconstruct)


# --------------------------------------------------------------------------------------------
# Hardware
# --------------------------------------------------------------------------------------------


class EnergyMeter(ABC):
    """Cumulative energy of a device, read before and after a measured span."""

    @abstractmethod
    def joules(self) -> float: ...


class Hardware(ABC):
    """Where runs execute, and how the harness synchronises, times and meters them."""

    name: ClassVar[str]
    is_default: ClassVar[bool] = False
    """True for the hardware ``ucdbench run`` uses when no ``--hardware`` is given; where
    several declare it, the first registered wins (as with names: built-ins first)."""
    accelerator: ClassVar[bool] = False
    """True where :meth:`devices` are accelerators a cluster scheduler allocates as GPUs: the
    Ray executor asks for ``num_gpus`` and the Slurm executor for GPUs per job accordingly
    (:meth:`accelerators_per_run`); False runs on CPUs alone."""
    devices_per_run: ClassVar[int] = 1
    """How many devices a scheduler reserves for one run on an accelerator (the run is handed
    the first of them; the local executor runs one worker per device of :meth:`devices`)."""

    @classmethod
    def accelerators_per_run(cls) -> int:
        """The GPUs a scheduler must give one run: ``devices_per_run`` on an accelerator, else 0."""
        return cls.devices_per_run if cls.accelerator else 0

    def unavailable_reason(self) -> str | None:
        """None if usable here, else why not (shown to the user)."""
        return None

    @abstractmethod
    def devices(self) -> list[str]:
        """The devices of this invocation; runs are spread one worker per device."""

    @abstractmethod
    def describe(self, device: str) -> dict[str, Any]:
        """Name, driver, memory, threads: written into every record."""

    def comparison_class(self, description: Mapping[str, Any]) -> dict[str, Any]:
        """The parts of a :meth:`describe` description that decide whether two runs' timings
        may be compared (``ucdbench compare`` matches runs by this, recorded as
        ``hardware_class``): what sets the speed (the device model, threads, device count, a
        driver's major version), never what varies between otherwise equal machines (memory
        a hosted runner reports a few KiB apart, a driver's patch level, which device index
        ran it). The default: the kind and the model name."""
        return {"kind": description.get("kind", self.name), "name": description.get("name")}

    @abstractmethod
    def synchronize(self, device: torch.device) -> None: ...

    @abstractmethod
    def time_call(self, fn: Callable[[], Any], device: torch.device) -> float:
        """Seconds one call of ``fn`` takes on ``device``, synchronised."""

    def work_seconds(self) -> float | None:
        """A clock of the work this process does, which other processes' load does not advance
        (a CPU's process time), read before and after each timed call; None where the device has
        none (a GPU's work is timed by its events). ``ucdbench compare`` tests timings on it where
        both nights have it: on a shared machine another job can make wall time 4× longer while
        the process's CPU time moves by a few percent."""
        return None

    def reset_peak_memory(self, device: torch.device) -> None:
        """Start a new peak-memory window (no-op where the device cannot)."""

    def peak_memory_bytes(self, device: torch.device) -> int | None:
        """Peak memory since the last reset, or None where unknown."""
        return None

    def memory_bytes(self, device: str) -> int | None:
        """Memory a run on ``device`` can take now (free GPU memory, available RAM), or None
        where unknown: what plugins' :class:`MemoryNeed` are checked against before runs start."""
        return None

    def energy_meter(self, device: torch.device) -> EnergyMeter | None:
        """A meter where the device exposes energy (NVML on NVIDIA GPUs), else None."""
        return None


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


ATTACHMENT_SUFFIXES = (".png", ".jpg", ".svg")
"""What leaderboards can show: images."""


@dataclass(frozen=True)
class Attachment:
    """A file an evaluation keeps beside a run's record (see :meth:`EvaluationContext.attach`)."""

    filename: str
    data: bytes = field(repr=False)
    caption: str


@dataclass
class EvaluationContext:
    """Everything an evaluation may look at for one run."""

    task: Task
    outcome: Outcome
    hardware: Hardware
    device: torch.device
    preset: str
    config: Config
    """This evaluation's own configuration (its ``defaults(preset)`` plus overrides)."""
    artifact_path: Any = None
    """Path of the artifact file the harness wrote (safetensors), or None."""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Results of the evaluations that ran before this one in the same run."""
    attached: dict[str, Attachment] = field(default_factory=dict)
    """What :meth:`attach` was given, by file name; the harness stores it after ``measure``."""

    def attach(self, filename: str, data: bytes, caption: str) -> None:
        """Keep a file (an image a reader would rather look at than a number: attack maps,
        generated samples) beside this run's record; leaderboards show attached images under the
        run's row. ``filename`` is a plain file name ending in one of
        :data:`ATTACHMENT_SUFFIXES`, unique within this evaluation; ``caption`` says what it shows."""
        if Path(filename).name != filename or Path(filename).suffix.lower() not in ATTACHMENT_SUFFIXES:
            raise ValueError(f"attachment {filename!r}: expected a plain file name ending in "
                             f"{', '.join(ATTACHMENT_SUFFIXES)}")
        if filename in self.attached:
            raise ValueError(f"attachment {filename!r} is attached twice by one evaluation")
        self.attached[filename] = Attachment(filename, bytes(data), caption)


class Evaluation(Configurable, ABC):
    """One standard measurement, implemented once in the harness."""

    name: ClassVar[str]
    figures: ClassVar[tuple[Metric, ...]] = ()
    """The figures leaderboards show, in order, each with its direction and unit; tables sort by
    the first one that has a direction. A figure declared with ``chart=ChartAxis(...)`` is an x
    axis leaderboards chart the task's primary metric against (:class:`ChartAxis`).
    :meth:`measure` may return more (raw counts, per-op breakdowns) for the record."""
    measures: ClassVar[frozenset[ArtifactKind]] = frozenset(ArtifactKind)
    """The kinds of artifact whose runs this evaluation measures (:class:`ArtifactKind`); on a
    run of another kind the harness skips it and says why (storage is not measured on an
    adversarial patch, nor the representation of a model an attack leaves unchanged)."""

    def declared_figures(self, ctx: EvaluationContext) -> tuple[Metric, ...]:
        """The figures of this run (``figures``; override where they depend on the task)."""
        return self.figures

    def skip_reason(self, ctx: EvaluationContext) -> str | None:
        """None if this evaluation applies to the outcome, else why it is skipped."""
        return None

    def memory_needs(self, task: Task, config: Config) -> Sequence[MemoryNeed]:
        """What :meth:`measure` with this evaluation's ``config`` holds at once on the device, as
        :meth:`Method.memory_needs` (asked before any run, on the task not yet prepared)."""
        return ()

    @abstractmethod
    def measure(self, ctx: EvaluationContext) -> dict[str, Any]:
        """The figures, as a flat JSON-serialisable mapping."""

    def conformance_problem(self, results: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str | None:
        """What is wrong with a plugin, judged from this evaluation on a smoke run of it; None
        when nothing is (the default: no check).

        The conformance kit (``ucdbench check-plugin``) calls it on every method's smoke run,
        and on an evaluation's own. ``results`` is what :meth:`measure` returned, or None where
        the evaluation was skipped; ``run`` is the run's record (``ucdbench show``): its
        ``task`` (name, ``primary_metric``, ``metrics``), ``artifact`` (the file's path, absent
        where the method stores none), ``skipped`` (evaluation → reason). Say what the plugin
        author must fix."""
        return None
