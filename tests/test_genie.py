"""GeNIe and the few-shot task: noise ratio → timesteps, what each augmentation makes and how it
is labelled, GeNIe-Ada's choice, episodes from novel classes only, the interval, the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import run_cli
from ucdbench_plugins.shared.fewshot.augmentation import Support
from ucdbench_plugins.shared.fewshot.diffusion import (
    ClassConditionalDiffusion, DiffusionEditor, denoising_timesteps, start_timestep,
)
from ucdbench_plugins.shared.fewshot.generative import GeNIe, GeNIeAda, Img2Img, Txt2Img, adaptive_ratio_index
from ucdbench_plugins.shared.fewshot.mixing import CutMix, MixUp, box
from ucdbench_plugins.shared.fewshot.views import crop_box, weak_view
from ucdbench_plugins.tasks.fewshot.episodes import linear_episode_accuracy, mean_and_interval, sample_episode


def _support(n_way: int = 3, k_shot: int = 2, side: int = 8) -> Support:
    """Images whose every pixel is their own index, so sources can be traced."""
    count = n_way * k_shot
    images = torch.arange(count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 1, side, side) / count
    return Support(images.contiguous(), torch.arange(n_way).repeat_interleave(k_shot), torch.tensor([7, 3, 5][:n_way]))


def _tiny_generator(guidance: float = 2.0) -> ClassConditionalDiffusion:
    torch.manual_seed(0)
    return ClassConditionalDiffusion(num_classes=10, image_size=8, in_chans=1, width=8, inference_steps=10,
                                     guidance_scale=guidance).eval()


def _embed(images: torch.Tensor) -> torch.Tensor:
    return images.flatten(1)[:, :4]


# -- noise ratio → timesteps ----------------------------------------------------------------------


def test_noise_ratio_maps_to_the_training_timestep_and_the_sampler_steps_after_it():
    from diffusers import DDIMScheduler

    assert start_timestep(0.8, 1000) == 800 and start_timestep(0.3, 1000) == 300 and start_timestep(1.0, 1000) == 1000
    sampler = DDIMScheduler(num_train_timesteps=1000)
    sampler.set_timesteps(50)  # 980, 960, …, 0
    assert denoising_timesteps(sampler.timesteps, 0.8, 1000) == list(range(800, -1, -20))
    assert denoising_timesteps(sampler.timesteps, 0.3, 1000) == list(range(300, -1, -20))
    sampler.set_timesteps(10)  # 900, 800, …, 0
    assert denoising_timesteps(sampler.timesteps, 0.5, 1000) == [500, 400, 300, 200, 100, 0]
    assert denoising_timesteps(sampler.timesteps, 1.0, 1000) == list(range(900, -1, -100))


class _Recording(DiffusionEditor):
    """A denoiser predicting zero noise that records where the editor noised to and stepped."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.inference_steps, self.guidance_scale = 10, 1.0
        self.noised_to: list[int] = []
        self.stepped: list[int] = []

    def sampler(self):
        from diffusers import DDIMScheduler

        scheduler = DDIMScheduler(num_train_timesteps=1000)
        add_noise = scheduler.add_noise

        def recording_add_noise(clean, noise, timesteps):
            self.noised_to += timesteps.tolist()
            return add_noise(clean, noise, timesteps)

        scheduler.add_noise = recording_add_noise
        return scheduler

    def encode(self, images):
        return images

    def decode(self, samples):
        return samples

    def predict_noise(self, samples, timestep, classes):
        self.stepped.append(int(timestep))
        return torch.zeros_like(samples)


def test_edit_noises_to_r_times_T_and_denoises_from_there():
    editor = _Recording()
    editor.edit(torch.rand(2, 1, 4, 4), torch.tensor([1, 2]), 0.7, torch.Generator().manual_seed(0))
    assert editor.noised_to == [700, 700]
    assert editor.stepped == [700, 600, 500, 400, 300, 200, 100, 0]
    pure = _Recording()
    pure.edit(torch.rand(2, 1, 4, 4), torch.tensor([1, 2]), 1.0, torch.Generator().manual_seed(0))
    assert pure.noised_to == [] and pure.stepped == list(range(900, -1, -100))  # pure noise, every step


# -- what each augmentation makes, and its labels --------------------------------------------------


def test_genie_edits_every_other_class_shot_towards_each_class_and_labels_it_as_that_class():
    support = _support()
    made = GeNIe(_tiny_generator(), 0.8).augment(support, torch.Generator().manual_seed(0), _embed)
    assert made.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    source_ids = (made.sources[:, 0, 0, 0] * 6).round().long()
    shot_labels = support.labels[source_ids]
    assert all(int(s) != int(t) for s, t in zip(shot_labels, made.labels))  # hard negatives: never its own class
    assert source_ids.tolist() == [2, 3, 4, 5, 0, 1, 4, 5, 0, 1, 2, 3]
    assert made.images.shape == (12, 1, 8, 8)


def test_img2img_edits_each_shot_towards_its_own_class_as_often_as_genie_edits():
    support = _support()
    made = Img2Img(_tiny_generator(), 0.7).augment(support, torch.Generator().manual_seed(0), _embed)
    source_ids = (made.sources[:, 0, 0, 0] * 6).round().long()
    assert made.labels.tolist() == support.labels[source_ids].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert source_ids.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_ratio_one_is_txt2img_whatever_the_source():
    generator = _tiny_generator()
    support = _support()
    other = Support(torch.rand_like(support.images), support.labels, support.classes)
    genie = GeNIe(generator, 1.0).augment(support, torch.Generator().manual_seed(3), _embed)
    txt2img = Txt2Img(generator).augment(support, torch.Generator().manual_seed(3), _embed)
    genie_other = GeNIe(generator, 1.0).augment(other, torch.Generator().manual_seed(3), _embed)
    assert torch.equal(genie.images, txt2img.images) and torch.equal(genie.labels, txt2img.labels)
    assert torch.equal(genie.images, genie_other.images)
    edited = GeNIe(generator, 0.5).augment(support, torch.Generator().manual_seed(3), _embed)
    edited_other = GeNIe(generator, 0.5).augment(other, torch.Generator().manual_seed(3), _embed)
    assert not torch.equal(edited.images, edited_other.images)  # below 1 the source matters


def test_genie_edits_towards_the_task_class_ids_of_the_labels():
    seen = []

    class Spy(_Recording):
        def predict_noise(self, samples, timestep, classes):
            seen.append(classes.tolist())
            return torch.zeros_like(samples)

    GeNIe(Spy(), 0.5).augment(_support(), torch.Generator().manual_seed(0), _embed)
    assert seen[0] == [7] * 4 + [3] * 4 + [5] * 4


def _beta_draws(seed: int, count: int, box_side: int = 0) -> list[float]:
    """The λ ~ Beta(0.8, 0.8) a mixing augmentation draws, one per batch, from the episode
    generator seeded ``seed``, by hand (CutMix then draws its box centre, on a ``box_side``-pixel image)."""
    rng = np.random.default_rng(int(torch.randint(2**31 - 1, (1,), generator=torch.Generator().manual_seed(seed))))
    draws = []
    for _ in range(count):
        draws.append(float(rng.beta(0.8, 0.8)))
        if box_side:
            rng.integers(box_side), rng.integers(box_side)
    return draws


def test_mixup_mixes_two_shuffled_passes_per_view_with_one_beta_08_lambda_per_batch_and_soft_labels():
    support = replace(_support(n_way=3, k_shot=1), views=4)  # 3 images: one batch of 16 per round
    made = MixUp().augment(support, torch.Generator().manual_seed(0), _embed)
    assert made.images.shape == (12, 1, 8, 8) and made.labels.shape == (12, 3)  # a mix per shot per view
    assert torch.allclose(made.labels.sum(1), torch.ones(12, dtype=torch.float64))
    values = support.images[:, 0, 0, 0].double()  # image i's every pixel: i / 3, its label i
    # a mix of two shots is the same mix of their pixels as of their labels
    assert torch.allclose(made.images[:, 0, 0, 0].double(), made.labels @ values, atol=1e-6)
    for round_, lam in enumerate(_beta_draws(0, 4)):  # one λ per round here, α = 0.8 as evaluate_v3.py
        for label in made.labels[3 * round_:3 * round_ + 3]:
            shares = sorted(float(p) for p in label if p > 0)
            assert shares in ([1.0], sorted([lam, 1 - lam])) or shares == pytest.approx(sorted([lam, 1 - lam]))


def test_cutmix_pastes_a_partners_box_of_rand_bbox_size_and_mixes_the_labels_by_lambda():
    support = replace(_support(n_way=3, k_shot=1, side=16), views=2)
    made = CutMix().augment(support, torch.Generator().manual_seed(1), _embed)
    assert made.images.shape == (6, 1, 16, 16) and made.labels.shape == (6, 3)
    values, checked = support.images[:, 0, 0, 0], 0
    for round_, lam in enumerate(_beta_draws(1, 2, box_side=16)):
        cut = int(16 * math.sqrt(1 - lam))
        for image, label, source in zip(made.images[3 * round_:3 * round_ + 3], made.labels[3 * round_:3 * round_ + 3],
                                        made.sources[3 * round_:3 * round_ + 3]):
            own = int(torch.argmin((values - source[0, 0, 0]).abs()))
            pasted = ~torch.isclose(image, source)
            assert int(pasted.sum()) <= cut * cut  # the box, clipped at the border
            if pasted.any():  # the partner's pixels, and λ of the label stays with the image's own class
                partner = int(torch.argmin((values - image[pasted][0]).abs()))
                assert float(label[own]) == pytest.approx(lam) and float(label[partner]) == pytest.approx(1 - lam)
                checked += 1
    assert checked >= 3


def test_rand_bbox_clips_a_box_of_int_side_times_root_one_minus_lambda_around_a_uniform_centre():
    class Draws:
        def __init__(self, *values):
            self.values = list(values)

        def integers(self, high):
            return self.values.pop(0)

    # λ = 0.75: sides int(16 · 0.5) = 8; centre (1, 14): rows 1-4 … 1+4 → 0 … 5, columns 10 … 18 → 10 … 16
    assert box(16, 16, 0.75, Draws(1, 14)) == (0, 5, 10, 16)
    # λ = 0.19: sides int(10 · 0.9) = 9, 9 // 2 = 4 each side: rows 5-4 … 5+4, columns 2-4 → 0 … 6
    assert box(10, 10, 0.19, Draws(5, 2)) == (1, 9, 0, 6)


def test_soft_labels_train_the_linear_classifier_which_separates_separable_features():
    rng = np.random.default_rng(0)
    centres = np.eye(3)
    support = np.concatenate([centres + 0.05 * rng.standard_normal((3, 3)) for _ in range(4)])
    targets = np.tile(np.eye(3), (4, 1)) * 0.8 + 0.2 / 3  # soft, but each row's largest is its class
    query = np.concatenate([centres + 0.05 * rng.standard_normal((3, 3)) for _ in range(5)])
    query_labels = np.tile(np.arange(3), 5)
    first = linear_episode_accuracy(support, targets, query, query_labels, torch.Generator().manual_seed(0))
    assert first == 1.0
    wrong = linear_episode_accuracy(support, targets[:, [1, 2, 0]], query, query_labels, torch.Generator().manual_seed(0))
    assert wrong == 0.0


def test_the_task_scores_soft_labelled_support_sets_with_the_linear_classifier(monkeypatch):
    from ucdbench_plugins.tasks.fewshot import task as task_module

    task = task_module.FewShotTask("smoke", 0, task_module.FewShotTask.defaults("smoke") | {"support_views": 2})
    task.prepare()
    calls = {"linear": 0, "logistic": 0}
    monkeypatch.setattr(task_module, "linear_episode_accuracy", lambda *a: calls.__setitem__("linear", calls["linear"] + 1) or 1.0)
    monkeypatch.setattr(task_module, "episode_accuracy", lambda *a: calls.__setitem__("logistic", calls["logistic"] + 1) or 0.0)

    class Learner(torch.nn.Module):
        def __init__(self, soft):
            super().__init__()
            self.soft, self.seen = soft, []

        def forward(self, images):
            self.seen.append(len(images))
            return images.flatten(1)

        def augment(self, images, labels, classes, generator, view, views):
            assert view is weak_view and views == 2
            extra = view(images, generator)
            return extra, (F.one_hot(labels, 5).double() if self.soft else labels)

    soft = Learner(True)
    assert task.evaluate(soft, torch.device("cpu"))["top1"] == 100.0 and calls == {"linear": 4, "logistic": 0}
    assert soft.seen[:3] == [5 * 2, 5, 5 * 16]  # two weak views of each shot, the added images, the queries
    assert task.evaluate(Learner(False), torch.device("cpu"))["top1"] == 0.0 and calls["logistic"] == 4


def test_generated_images_are_handed_over_through_one_view_of_the_task():
    marked = replace(_support(), view=lambda images, generator: images + 10)
    for augmentation in (GeNIe(_tiny_generator(), 0.8), GeNIeAda(_tiny_generator(), (0.5, 0.9))):
        plain = augmentation.augment(_support(), torch.Generator().manual_seed(0), _embed)
        viewed = augmentation.augment(marked, torch.Generator().manual_seed(0), _embed)
        assert torch.allclose(viewed.images, plain.images + 10)


def test_the_weak_view_is_torchvisions_random_resized_crop_of_20_to_100_percent_and_a_flip():
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        top, left, h, w = crop_box(32, 32, generator)
        assert 0 <= top and top + h <= 32 and 0 <= left and left + w <= 32
        assert 0.2 * 1024 * 0.9 <= h * w <= 1024 and 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    ramp = torch.linspace(0, 1, 32).expand(1, 1, 32, 32).repeat(400, 1, 1, 1)  # brighter to the right
    views = weak_view(ramp, torch.Generator().manual_seed(1))
    assert views.shape == ramp.shape and views.min() >= 0 and views.max() <= 1
    mirrored = (views[:, 0, 0, 0] > views[:, 0, 0, -1]).float().mean()
    assert 0.4 < float(mirrored) < 0.6  # about half are flipped


def test_genie_ada_keeps_the_edit_right_after_the_largest_projected_jump():
    prototype, source = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    # projections on the source→prototype direction: 0.1, 0.2, 0.7, 0.8, 0.85; the orthogonal part varies wildly
    edits = torch.tensor([[0.2, 5.0], [0.4, -3.0], [1.4, 0.0], [1.6, 9.0], [1.7, 1.0]])
    assert adaptive_ratio_index(edits, source, prototype) == 2
    # jumps are measured along the direction, in its units: |Δ coordinate| · ‖v‖
    shifted = torch.tensor([[1.0, 0.0], [1.1, 0.0], [1.2, 0.0], [1.3, 0.0], [2.5, 0.0]])
    assert adaptive_ratio_index(shifted, torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0])) == 4


class _ByRatio(torch.nn.Module):
    """An editor whose edit at each ratio is a fixed image, whatever the source."""

    def __init__(self, images: dict[float, torch.Tensor]) -> None:
        super().__init__()
        self.images = images

    def edit(self, images, classes, ratio, generator):
        return self.images[ratio].expand(len(images), -1, -1, -1)


def test_genie_ada_chooses_on_l2_normalised_embeddings_as_the_official_notebook():
    """2-way 1-shot: shot 0 embeds to (0, 1), shot 1 to (1, 0); the edits at 0.5, 0.7, 0.9 embed
    to (1, 0), (0, 0.2), (-3, 3). Towards class 0 (source (1, 0), prototype (0, 1), v = (-1, 1)):
    normalised, the edits are (1, 0), (0, 1), (-0.707, 0.707), on v at -0.5, 0.5, 0.707, jumps 1
    and 0.207: r = 0.7. Unnormalised they would sit at -0.5, 0.1, 3, jumps 0.6 and 2.9: r = 0.9.
    Towards class 1 (v = (1, -1)) the same by symmetry."""
    def image(a, b):
        return torch.tensor([a, b, 0.0, 0.0]).view(1, 1, 2, 2)

    support = Support(torch.cat([image(0, 1), image(1, 0)]), torch.tensor([0, 1]), torch.tensor([4, 6]))
    editor = _ByRatio({0.5: image(1, 0), 0.7: image(0, 0.2), 0.9: image(-3, 3)})
    made = GeNIeAda(editor, (0.5, 0.7, 0.9)).augment(support, torch.Generator().manual_seed(0),
                                                      lambda x: x.flatten(1)[:, :2])
    assert made.labels.tolist() == [0, 1] and made.ratios.tolist() == [0.7, 0.7]
    assert torch.equal(made.images, image(0, 0.2).expand(2, -1, -1, -1))


def test_genie_ada_adds_one_edit_per_source_at_one_of_its_ratios():
    support = _support()
    made = GeNIeAda(_tiny_generator(), (0.5, 0.7, 0.9)).augment(support, torch.Generator().manual_seed(0), _embed)
    assert made.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert set(made.ratios.tolist()) <= {0.5, 0.7, 0.9} and made.images.shape == (12, 1, 8, 8)


# -- episodes and scoring --------------------------------------------------------------------------


def test_episodes_draw_only_novel_classes_with_distinct_support_and_queries():
    labels = np.repeat(np.arange(10), 30)
    rng = np.random.default_rng(0)
    for _ in range(20):
        episode = sample_episode(labels, [5, 6, 7, 8, 9], n_way=5, k_shot=5, queries=16, rng=rng)
        drawn = np.concatenate([episode.support, episode.query])
        assert set(labels[drawn]) <= {5, 6, 7, 8, 9} and len(set(drawn)) == len(drawn) == 5 * 21
        assert list(labels[episode.support]) == list(episode.classes[episode.support_labels])
        assert list(labels[episode.query]) == list(episode.classes[episode.query_labels])


def test_the_task_never_puts_a_base_class_in_an_episode():
    from ucdbench_plugins.tasks.fewshot.task import FewShotTask

    config = FewShotTask.defaults("smoke") | {"episodes": 30, "n_way": 3, "novel_classes": "5,7,9",
                                              "base_classes": "0-4"}
    task = FewShotTask("smoke", 1, config)
    task.prepare()
    labels = task.data.labels.numpy()
    for episode in task.episodes():
        assert set(labels[np.concatenate([episode.support, episode.query])]) <= {5, 7, 9}
    images, support_labels, classes = task.support_set(2)
    assert images.shape == (3, 1, 16, 16) and set(classes.tolist()) <= {5, 7, 9}


def test_interval_is_196_population_std_over_root_episodes():
    mean, interval = mean_and_interval([0.5, 0.7, 0.9, 0.7])
    # mean 0.7; population std sqrt((0.04 + 0 + 0.04 + 0) / 4) = sqrt(0.02); 1.96 · 0.141421 / 2
    assert mean == pytest.approx(0.7)
    assert interval == pytest.approx(1.96 * math.sqrt(0.02) / 2) == pytest.approx(0.138593, abs=1e-6)


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.mark.ucdbench_e2e
def test_cli_runs_genie_on_the_fewshot_task_and_measures_its_generation(tmp_path: Path):
    result = run_cli("run", "--method", "genie", "fewshot-none", "--task", "fewshot", "--preset", "smoke",
                     results=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    records = {r["method"]["name"]: r for r in map(json.loads, map(Path.read_text, (tmp_path / "runs").glob("*.json")))}
    genie, none = records["genie"], records["fewshot-none"]
    for record in (genie, none):
        assert 0 <= record["evaluations"]["accuracy"]["top1"] <= 100 and record["evaluations"]["accuracy"]["ci95"] > 0
        assert record["evaluations"]["reconstruction"]["weights_equal"] is True
    assert genie["evaluations"]["generation-cost"]["images_per_episode"] == 5 * 4 * 1
    assert genie["evaluations"]["generation-cost"]["images_per_s"] > 0
    assert "generation-cost" in none["skipped"]


@pytest.mark.ucdbench_e2e
def test_generation_cost_counts_the_images_scoring_adds_per_support_view(tmp_path: Path):
    """MixUp mixes a round of shots per support view: with 3 views it adds 3 × n_way × k_shot
    images to the episode when scored, and the generation cost counts as many."""
    result = run_cli("run", "--method", "mixup", "--task", "fewshot", "--preset", "smoke", "--set",
                     "task.support_views=3", results=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    (record,) = map(json.loads, map(Path.read_text, (tmp_path / "runs").glob("*.json")))
    assert record["evaluations"]["generation-cost"]["images_per_episode"] == 3 * 5 * 1


@pytest.mark.ucdbench_e2e
def test_cli_missing_stable_diffusion_or_folder_is_a_usage_error(tmp_path: Path):
    offline = run_cli("run", "--method", "genie", "--task", "fewshot", "--preset", "smoke", "--set",
                      "task.generator=stable-diffusion", "--set", "task.generator_model=nobody/no-such-model",
                      results=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2 and "not in the local Hugging Face cache" in offline.stderr
    folder = run_cli("run", "--method", "genie", "--task", "fewshot", "--preset", "smoke", "--set",
                     "task.dataset=folder", "--set", f"task.folder={tmp_path / 'missing'}", results=tmp_path)
    assert folder.returncode == 2 and "base/" in folder.stderr


# -- the backbone pretrains on the run's device ----------------------------------------------------


def _pretraining_spy(monkeypatch, device: torch.device) -> tuple[dict, list]:
    """Pretrain the smoke task's backbone on ``device`` through spies: the cache key it is
    stored under, and the device and size of every batch it trains on."""
    from ucdbench_plugins.tasks.fewshot import backbone as backbone_module
    from ucdbench_plugins.tasks.fewshot.task import FewShotTask

    keys, batches = {}, []
    real_build = backbone_module.build_backbone

    def build(*args):
        net = real_build(*args)
        net.register_forward_pre_hook(lambda module, inputs: batches.append((inputs[0].device.type, len(inputs[0]))))
        return net

    def cached(kind, key, make):
        keys.update(key)
        return make()

    monkeypatch.setattr(backbone_module, "build_backbone", build)
    monkeypatch.setattr(backbone_module, "cached_tensors", cached)
    task = FewShotTask("smoke", 0, FewShotTask.defaults("smoke") | {"pretrain_batch_size": 24})
    task.prepare()
    learned = task.backbone(device)
    assert all(p.device.type == device.type for p in learned.parameters())
    return keys, batches


def test_the_backbone_pretrains_on_the_device_it_is_asked_for_with_the_tasks_batch_size(monkeypatch):
    keys, batches = _pretraining_spy(monkeypatch, torch.device("cpu"))
    assert keys["device"] == "cpu" and keys["pretrain_batch_size"] == 24
    assert batches and all(batch == ("cpu", 24) for batch in batches)


@pytest.mark.ucdbench_cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_backbone_pretrains_on_a_gpu_when_the_run_uses_one(monkeypatch):
    keys, batches = _pretraining_spy(monkeypatch, torch.device("cuda"))
    assert keys["device"] == "cuda" and batches and all(batch == ("cuda", 24) for batch in batches)
