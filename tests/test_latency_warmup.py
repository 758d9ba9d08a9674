"""The latency evaluation's warm-up: untimed passes first, so a slow first call (lazy init, a
cold cache) is not among the recorded samples. Time is a virtual clock the model advances, so
every sample is known exactly and nothing depends on how busy the machine is."""

from __future__ import annotations

import torch
from torch import nn

from ucdbench.api import EvaluationContext, Outcome
from ucdbench_plugins.evaluations.latency import Latency
from ucdbench_plugins.hardware.cpu import CPU

FIRST_CALL_S = 5.0
CALL_S = 1 / 256
"""Seconds of every later call: a binary fraction, so sums of them are exact."""


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0


class SlowFirstCall(nn.Module):
    """A model whose first forward costs 5 s of the virtual clock and every later one 1/256 s."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 2)
        self.clock, self.calls = clock, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += FIRST_CALL_S if self.calls == 0 else CALL_S
        self.calls += 1
        return self.layer(x)


class VirtualTimeCPU(CPU):
    """The CPU hardware, timing calls (wall and work clock alike) on the virtual clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def time_call(self, fn, device) -> float:
        start = self.clock.now
        fn()
        return self.clock.now - start

    def work_seconds(self) -> float:
        return self.clock.now


class Inputs:
    """The task side of latency: a batch of inputs and how the model is called on them."""

    def sample_inputs(self, batch_size: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(batch_size, 2, device=device)

    def forward(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs)


def _measure(**config) -> tuple[dict, SlowFirstCall]:
    clock = VirtualClock()
    model = SlowFirstCall(clock)
    ctx = EvaluationContext(task=Inputs(), outcome=Outcome(model=model), hardware=VirtualTimeCPU(clock),
                            device=torch.device("cpu"), preset="smoke",
                            config={**Latency.defaults("smoke"), "max_iters": 1000, **config})
    return Latency().measure(ctx), model


def test_the_slow_first_call_is_a_warm_up_pass_and_no_sample():
    figures, model = _measure(warmup=2, min_iters=5, min_seconds=0.0)
    assert figures["samples_ms"] == [1000 * CALL_S] * 5
    assert figures["work_samples_ms"] == [1000 * CALL_S] * 5
    assert figures["p50_ms"] == figures["p99_ms"] == 1000 * CALL_S
    assert figures["iterations"] == 5 and model.calls == 2 + 5  # the warm-up passes ran, untimed


def test_timed_passes_go_on_until_min_seconds_of_samples():
    figures, model = _measure(warmup=1, min_iters=5, min_seconds=0.125)
    assert figures["iterations"] == 32  # 0.125 s / (1/256 s): the warm-up's 5 s count for nothing
    assert max(figures["samples_ms"]) == 1000 * CALL_S and model.calls == 1 + 32


def test_without_warm_up_the_first_call_is_the_first_sample():
    figures, _ = _measure(warmup=0, min_iters=5, min_seconds=0.0)
    assert figures["samples_ms"] == [1000 * FIRST_CALL_S] + [1000 * CALL_S] * 4


def test_time_calls_leaves_its_warm_up_calls_out_of_the_samples():
    """The shared timer (the reconstruction figure's latency) runs ``warmup`` untimed calls first."""
    from ucdbench.api import time_calls

    clock = VirtualClock()
    model = SlowFirstCall(clock)
    inputs = torch.zeros(1, 2)
    timed = time_calls(lambda: model(inputs), VirtualTimeCPU(clock), torch.device("cpu"), repeats=3, warmup=1)
    assert timed.seconds == [CALL_S] * 3 and model.calls == 1 + 3
    cold = time_calls(lambda: model(inputs), VirtualTimeCPU(clock), torch.device("cpu"), repeats=2, warmup=0)
    assert model.calls == 1 + 3 + 2 and cold.seconds == [CALL_S] * 2  # no warm-up: just the two timed calls
