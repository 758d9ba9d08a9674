"""The papers' budgets at the paper preset: built on ResNet-18 with an ImageNet-100 head (on
the meta device: nothing is allocated, no basis is drawn), each random-basis method stores the
count of numbers its paper's figure was reached with, and the figure stands beside no run of
another budget."""

from __future__ import annotations

import math

import torch

from ucdbench.running.runner import merge_config
from ucdbench_plugins.methods.mcnc.method import MCNC
from ucdbench_plugins.methods.nola.method import NOLA
from ucdbench_plugins.methods.nola.method import PAPER_STORED_NUMBERS as NOLA_PAPER_NUMBERS
from ucdbench_plugins.methods.pranc.method import PAPER_STORED_NUMBERS, PRANC
from ucdbench_plugins.shared.local_images.task import NormalizedClassifier
from ucdbench_plugins.tasks.imagenet.task import ImageNet

IMAGENET100_RESNET18 = 11_227_812
"""ResNet-18's parameters with a 100-class head (NOLA paper v1, Table 8's "trained model")."""


def imagenet_task(preset: str = "paper") -> ImageNet:
    return ImageNet(preset, 0, merge_config(ImageNet, preset, {}, "task 'imagenet'"))


def resnet18(task: ImageNet) -> NormalizedClassifier:
    """The network the task builds, on the meta device: timm's ResNet-18 with a 100-class
    classifier as ``head`` (its input normalisation holds no parameters and stores nothing)."""
    import timm

    with torch.device("meta"):
        return NormalizedClassifier(timm.create_model(task.config["model"], num_classes=100), (0.5,) * 3, (0.5,) * 3)


def stored_at(method_cls, preset: str = "paper", **overrides) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors ``method_cls`` at ``preset`` stores for ResNet-18 on ImageNet-100, and its
    configuration as the runner records it (before the method's ``configure`` resolves its
    ``auto`` settings: what a figure's ``where`` is matched with): what fit would write to the
    artifact, built on the meta device."""
    task = imagenet_task(preset)
    network = resnet18(task)
    method = method_cls()
    recorded = merge_config(method_cls, preset, overrides, f"method {method.name!r}", task.config)
    config = method.configure(network, recorded, preset)
    layout = method.layout(network, config)
    dense = method.dense_parameters(task, network, layout, config)
    # from scratch: none of these layouts has starting values for the code to add to
    code = method.make_code(layout.wanted(), None, config, seed=0, rng="cpu", device=torch.device("meta"))
    return method.stored_tensors(code, network, dense), recorded


def numbers(tensors: dict[str, torch.Tensor], floats_only: bool = False) -> int:
    return sum(t.numel() for t in tensors.values() if t.is_floating_point() or not floats_only)


def test_the_network_is_the_papers_resnet18():
    assert sum(p.numel() for p in resnet18(imagenet_task()).parameters()) == IMAGENET100_RESNET18


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


BATCHNORM_AFFINE = 9_600
"""ResNet-18's BatchNorm weights and biases: 2 × 4,800 channels."""


def trained(stored: dict[str, torch.Tensor]) -> int:
    """The numbers a NOLA artifact holds that training set: coefficients and dense parameters
    (the running statistics are BatchNorm's buffers, which the NOLA paper does not count)."""
    params = set(dict(resnet18(imagenet_task()).named_parameters()))
    return sum(t.numel() for name, t in stored.items() if name in params or name in ("a", "b", "head_a", "head_b"))


def test_nola_paper_preset_from_scratch_trains_the_papers_109600_numbers():
    """k = l = 2,000 on each of the 20 convolutions and 10,000 on the classifier (its bias inside
    its matrix, so not stored), BatchNorm's affine dense: the NOLA paper's appendix setting,
    Table 8's count. The artifact also stores BatchNorm's running statistics to rebuild from."""
    stored, config = stored_at(NOLA, mode="scratch")
    assert stored["a"].shape == stored["b"].shape == (20, 2_000)
    assert stored["head_a"].shape == stored["head_b"].shape == (1, 10_000)
    dense = [name for name in stored if name.endswith((".weight", ".bias"))]
    assert "head.bias" not in stored and all(".bn" in name or ".downsample.1." in name for name in dense)
    assert sum(stored[name].numel() for name in dense) == BATCHNORM_AFFINE
    assert trained(stored) == NOLA_PAPER_NUMBERS == 109_600
    assert numbers(stored, floats_only=True) == NOLA_PAPER_NUMBERS + BATCHNORM_AFFINE  # + running means, variances
    assert NOLA().configure(resnet18(imagenet_task()), config, "paper")["rank"] == 64


def test_nola_figure_stands_beside_its_budget_only():
    (figure,) = NOLA.reported
    task_config = imagenet_task().config
    _, paper = stored_at(NOLA, mode="scratch")
    assert figure.applies_to("imagenet", paper, task_config)
    for preset, other in (("paper", {"k": 1_000}), ("paper", {"l": 500}), ("paper", {"head_bases": 5_000}),
                          ("small", {})):
        stored, config = stored_at(NOLA, preset, mode="scratch", **other)
        assert trained(stored) != NOLA_PAPER_NUMBERS
        assert not figure.applies_to("imagenet", config, task_config)
    _, adapter = stored_at(NOLA)  # the paper preset's own mode: adapters, another experiment
    assert not figure.applies_to("imagenet", adapter, task_config)
    assert not figure.applies_to("imagenet", paper, {**task_config, "model": "resnet50"})


def test_mcnc_declares_no_figure_without_a_readable_source():
    """MCNC's tables could not be read in any reachable source (REPORTED.md §10a)."""
    assert MCNC.reported == ()


def test_every_figures_setting_names_settings_that_exist_with_values_they_allow():
    """A figure's ``where`` is how its setting (its budget included) is matched: a misspelt
    setting or a value no run can have would keep the figure beside no row at all."""
    from ucdbench.discovery.registry import load_registry

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
