"""Sinks: where a run's results go besides its record (an experiment tracker, event files).

Researchers follow runs in MLflow, Weights & Biases or TensorBoard rather than in a results
folder, so ``ucdbench run --sink NAME[=TARGET]`` hands each run to the sinks named: its training
curves while it fits, its figures and artifact once it is recorded (and ``ucdbench evaluate
--sink`` its new figures after it measures it again). The record stays the source of truth: a
sink reads records (through :class:`SinkRun`; the running record holds the curves so far), never
the worker, and a sink that raises or cannot reach its server is reported, on stderr and in the
record's ``sinks`` section, and never fails or loses a run.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class SinkRun:
    """One recorded run, as a sink receives it."""

    key: str
    """The run's key (a tracker's run can name it, to find the record again)."""
    name: str
    """A short label: ``"lora digits seed 0 (1a2b3c4d5e)"``."""
    experiment: str
    """What groups runs: the experiment file's name without ``.toml`` (``"nightly"``), or
    ``"ucdbench"`` for runs given by flags."""
    status: str
    """``"running"`` (a run handed over while it fits), ``"ok"`` or ``"failed"`` (the fit's
    status, as the record has it)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """The resolved configuration, flat: ``method``, ``task``, ``preset``, ``seed``,
    ``hardware``, ``threads``, then ``method.KEY`` and ``task.KEY`` for each setting."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """What the run ran on: ``commit`` (the project's git commit, where known), ``code`` (the
    fingerprint of the fit's code), ``hardware`` (the device's name), ``ucdbench`` (the run key)."""
    record: Mapping[str, Any] = field(default_factory=dict)
    """The whole record, for what the fields above leave out (read it; never change it)."""


class Sink(ABC):
    """Where runs go besides their records. Registered under ``name``; constructed with no
    arguments once per ``ucdbench run`` that names it, in the process that reads the records.

    For each run, in order: :meth:`start` (its configuration, as soon as its running record shows
    a curve point, else when it ends), :meth:`curve` with the new points of a curve each time the
    running record has some (every few seconds while it fits; each point once), then :meth:`finish`
    (its figures and artifact file) or, for a failed fit, :meth:`fail`. A run whose figures change
    after it was handed over (``ucdbench evaluate`` measured it again) is handed over again:
    :meth:`start`, then :meth:`finish` with every figure, no curve; a tracker that can find the run
    it made for :attr:`SinkRun.key` continues it. :meth:`open` comes before the first run,
    :meth:`close` after the last, all calls from one thread at a time. Whatever a method raises is
    that run's delivery failing: reported, and the next run is handed over all the same.
    """

    name: ClassVar[str]
    target_help: ClassVar[str] = ""
    """What ``TARGET`` in ``--sink NAME=TARGET`` means for this sink, and what it is when left out."""

    def unavailable_reason(self) -> str | None:
        """None where this sink can run here, else why not and how to fix it (its package is not
        installed: the extra to install). Asked before any run starts: a usage error (exit 2)."""
        return None

    def open(self, target: str | None, experiment: str) -> None:
        """Before the first run: connect, create the experiment, make the folder. ``target`` is
        what the user gave after ``=`` (None: this sink's default); ``experiment`` as
        :attr:`SinkRun.experiment`. Raise where the target cannot be reached: every run's
        record then says the sink failed, and why."""

    @abstractmethod
    def start(self, run: SinkRun) -> None:
        """A run begins: its configuration (:attr:`SinkRun.params`) and tags."""

    def curve(self, run: SinkRun, name: str, points: Sequence[tuple[float, float]]) -> None:
        """New points of one of the run's training curves: ``(epoch, value)`` in order, after the
        points of earlier calls (the default: nothing, for a sink that keeps no curves). A tracker that counts steps in whole numbers
        logs each point at :meth:`step_of` its epoch."""

    @staticmethod
    def step_of(epoch: float) -> int:
        """The whole step a curve point is logged at: the epoch it ends (``ceil``: epoch 1.0 is
        step 1, a fractional last epoch 1.5 is step 2), so steps count epochs and stay distinct."""
        return math.ceil(epoch)

    @abstractmethod
    def finish(self, run: SinkRun, figures: Mapping[str, float], artifact: Path | None) -> None:
        """A run that succeeded: its figures (``"evaluation/figure"`` and ``"method/name"`` →
        a finite number) and its artifact file (None where the method stores none)."""

    def fail(self, run: SinkRun, error: str) -> None:
        """A run whose fit failed, with its error (the default: nothing more than :meth:`start`)."""

    def close(self) -> None:
        """After the last run: flush, disconnect."""
