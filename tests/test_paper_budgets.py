"""The papers' budgets at the paper preset: built on ResNet-18 with an ImageNet-100 head (on
the meta device: nothing is allocated, no basis is drawn), each random-basis method stores the
count of numbers its paper's figure was reached with, and the figure stands beside no run of
another budget."""

from __future__ import annotations

import math

import torch

from ucdbench.runner import merge_config
from ucdbench_plugins.methods.mcnc.method import MCNC
from ucdbench_plugins.methods.pranc.method import PAPER_STORED_NUMBERS, PRANC
from ucdbench_plugins.tasks.imagenet.task import ImageNet

IMAGENET100_RESNET18 = 11_227_812
"""ResNet-18's parameters with a 100-class head (NOLA paper v1, Table 8's "trained model")."""


def imagenet_task(preset: str = "paper") -> ImageNet:
    return ImageNet(preset, 0, merge_config(ImageNet, preset, {}, "task 'imagenet'"))


def stored_at(method_cls, preset: str = "paper", **overrides) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors ``method_cls`` at ``preset`` stores for ResNet-18 on ImageNet-100, and its
    configuration: what fit would write to the artifact, built on the meta device."""
    import timm

    task = imagenet_task(preset)
    with torch.device("meta"):
        network = timm.create_model(task.config["model"], num_classes=100)
    method = method_cls()
    config = merge_config(method_cls, preset, overrides, f"method {method.name!r}", task.config)
    config = method.configure(network, config, preset)
    layout = method.layout(network, config)
    dense = method.dense_parameters(task, network, layout, config)
    # from scratch: none of these layouts has starting values for the code to add to
    code = method.make_code(layout.wanted(), None, config, seed=0, rng="cpu", device=torch.device("meta"))
    return method.stored_tensors(code, network, dense), config


def numbers(tensors: dict[str, torch.Tensor], floats_only: bool = False) -> int:
    return sum(t.numel() for t in tensors.values() if t.is_floating_point() or not floats_only)


def test_the_network_is_the_papers_resnet18():
    import timm

    with torch.device("meta"):
        network = timm.create_model(imagenet_task().config["model"], num_classes=100)
    assert sum(p.numel() for p in network.parameters()) == IMAGENET100_RESNET18


def test_pranc_paper_preset_stores_the_papers_119200_numbers():
    """100,000 coefficients (the official ImageNet-100 configs' num_alpha) and BatchNorm's
    weights, biases, means and variances (the official save_signature's bnw, bnb, means, vars:
    4 × 4,800); its batch counters are integers no paper counts."""
    stored, _ = stored_at(PRANC)
    assert stored["coefficients"].numel() == 100_000
    assert numbers(stored, floats_only=True) == PAPER_STORED_NUMBERS == 119_200


def test_mcnc_paper_preset_stores_one_percent_of_the_parameters():
    stored, config = stored_at(MCNC)
    coefficients = stored["alpha"].numel() + stored["beta"].numel()
    assert coefficients == math.ceil(IMAGENET100_RESNET18 / config["d"]) * (config["k"] + 1)
    assert round(100 * coefficients / IMAGENET100_RESNET18, 2) == 1.00


def test_pranc_figure_stands_beside_its_budget_only():
    """The figure's setting pins what decides the stored count (the bases, one chunk, the
    network): a run at the paper preset carries it, one at another budget does not."""
    (figure,) = PRANC.reported
    task_config = imagenet_task().config
    _, paper = stored_at(PRANC)
    assert figure.applies_to("imagenet", paper, task_config)
    for other in ({"bases": 10_000}, {"chunk_size": 500_000}):
        stored, config = stored_at(PRANC, **other)
        assert numbers(stored, floats_only=True) != PAPER_STORED_NUMBERS
        assert not figure.applies_to("imagenet", config, task_config)
    assert not figure.applies_to("imagenet", paper, {**task_config, "model": "resnet50"})


def test_mcnc_declares_no_figure_without_a_readable_source():
    """MCNC's tables could not be read in any reachable source (REPORTED.md §10a)."""
    assert MCNC.reported == ()


def test_every_figures_setting_names_settings_that_exist_with_values_they_allow():
    """A figure's ``where`` is how its setting (its budget included) is matched: a misspelt
    setting or a value no run can have would keep the figure beside no row at all."""
    from ucdbench.plugins import load_registry

    registry = load_registry()
    wrong = []
    for name in registry.names("method"):
        method = registry.load("method", name)
        for figure in method.reported:
            task = registry.load("task", figure.task)
            for key, value in figure.where.items():
                owner, setting = (task, key[5:]) if key.startswith("task.") else (method, key)
                settings = owner.declared_settings("paper")
                if setting not in settings or settings[setting].problem(value):
                    wrong.append(f"{name}: {figure.value} needs {key}={value!r}")
    assert not wrong, "\n".join(wrong)
