"""The generation-cost evaluation's figures on a hand-made few-shot task, an augmenting model and
a virtual clock: the count of images one augmentation adds, the median seconds of its timed calls
and their quotient, each worked out by hand. Small enough for mutation testing
(docs/development.md)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ucdbench.api import EvaluationContext, FewShotClassification, Outcome
from ucdbench_plugins.evaluations.generation_cost import GenerationCost
from ucdbench_plugins.hardware.cpu import CPU

CPU_DEVICE = torch.device("cpu")


def view(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return images


class OneEpisode(FewShotClassification):
    """A 2-way episode of 3 support images (labels 0 1 0, classes 5 and 7), viewed 4 times."""

    def __init__(self) -> None:
        self.images, self.labels, self.classes = torch.zeros(3, 2), torch.tensor([0, 1, 0]), torch.tensor([5, 7])
        self.episodes_asked: list[int] = []

    def class_names(self) -> list[str]:
        return [str(c) for c in range(8)]

    def support_set(self, episode: int):
        self.episodes_asked.append(episode)
        return self.images, self.labels, self.classes

    def generator(self) -> nn.Module:
        raise AssertionError("the evaluation times the model's augmentation, not the task's generator")

    def support_views(self):
        return view, 4


class TwoPerImage(nn.Module):
    """Augments a support set with two generated images per support image; records each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict] = []
        self.register_buffer("one", torch.ones(1))  # on the model's device: images elsewhere fail

    def augment(self, images, labels, classes, generator, *, view, views):
        self.calls.append({"images": images, "labels": labels, "classes": classes, "seed": generator.initial_seed(),
                           "draw": float(torch.rand(1, generator=generator)), "view": view, "views": views,
                           "training": self.training})
        return (images * self.one).repeat(2, 1), labels.repeat(2)


class VirtualClock(CPU):
    """Each timed call takes the next of ``durations`` seconds; ``asked``: each call, with its device."""

    def __init__(self, durations: list[float]) -> None:
        self.durations, self.asked = list(durations), []

    def synchronize(self, device) -> None:
        self.asked.append(("synchronize", device))

    def time_call(self, fn, device) -> float:
        self.asked.append(("time_call", device))
        fn()
        return self.durations.pop(0)

    def work_seconds(self) -> float | None:
        return None


def context(durations, model=None, task=None, extras=None, **config) -> EvaluationContext:
    outcome = Outcome(model=model or TwoPerImage(), extras={"generates_images": True} if extras is None else extras)
    return EvaluationContext(task=task or OneEpisode(), outcome=outcome, hardware=VirtualClock(durations),
                             device=CPU_DEVICE, preset="smoke", config={**GenerationCost.defaults("smoke"), **config})


def test_the_figures_are_the_count_the_median_and_their_quotient():
    ctx = context([0.5, 0.25, 1.0], repeats=3)
    figures = GenerationCost().measure(ctx)
    # 3 support images, 2 made per image → 6; median of 0.5, 0.25, 1 s → 0.5 s; 6 / 0.5 = 12 images/s
    assert figures == {"images_per_episode": 6, "s_per_episode": 0.5, "images_per_s": 12.0,
                       "samples_ms": [500.0, 250.0, 1000.0], "repeats": 3, "threads": torch.get_num_threads()}
    assert ctx.task.episodes_asked == [0]  # the first episode
    # one untimed call (the count), then the three timed ones, each on the run's device
    assert ctx.hardware.asked == [("synchronize", CPU_DEVICE), *[("time_call", CPU_DEVICE)] * 3]
    calls = ctx.outcome.model.calls
    assert len(calls) == 4
    first = torch.rand(1, generator=torch.Generator().manual_seed(0)).item()
    for call in calls:  # the task's episode and views, a generator seeded 0 afresh on every call, in eval mode
        assert torch.equal(call["images"], ctx.task.images)
        assert call["labels"] is ctx.task.labels and call["classes"] is ctx.task.classes
        assert call["seed"] == 0 and call["draw"] == pytest.approx(first)
        assert call["view"] is view and call["views"] == 4 and call["training"] is False


def test_an_even_number_of_calls_gives_the_mean_of_the_middle_two():
    figures = GenerationCost().measure(context([0.6, 0.2], repeats=2))
    # median of 0.2 and 0.6 s → 0.4 s; 6 images / 0.4 s = 15 images/s
    assert figures["s_per_episode"] == pytest.approx(0.4) and figures["images_per_s"] == pytest.approx(15.0)
    assert figures["repeats"] == 2 and figures["samples_ms"] == [600.0, 200.0]


def test_the_smoke_preset_times_one_call():
    ctx = context([0.125])
    assert GenerationCost().measure(ctx)["images_per_s"] == 48.0  # 6 images / 0.125 s
    assert len(ctx.outcome.model.calls) == 2


def test_the_evaluation_applies_to_a_few_shot_task_whose_model_generates_images():
    evaluation = GenerationCost()
    assert evaluation.skip_reason(context([])) is None
    assert evaluation.skip_reason(context([], task=object())) == "not a few-shot task"
    reason = "the method adds no generated images to the support set"
    assert evaluation.skip_reason(context([], model=nn.Linear(1, 1))) == reason  # no augment method
    assert evaluation.skip_reason(context([], extras={})) == reason
    assert evaluation.skip_reason(context([], extras={"generates_images": False})) == reason


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_model_and_the_support_set_go_to_the_evaluation_s_device():
    """On CPU the device plumbing cannot be told apart from none: this is where it is checked."""
    cuda = torch.device("cuda")
    ctx = EvaluationContext(task=OneEpisode(), outcome=Outcome(model=TwoPerImage(), extras={"generates_images": True}),
                            hardware=VirtualClock([0.5]), device=cuda, preset="smoke", config=GenerationCost.defaults("smoke"))
    assert GenerationCost().measure(ctx)["images_per_episode"] == 6
    assert all(call["images"].device.type == "cuda" for call in ctx.outcome.model.calls)
