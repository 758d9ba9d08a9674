"""GeNIe and the few-shot task: noise ratio → timesteps, what each augmentation makes and how it
is labelled, GeNIe-Ada's choice, episodes from novel classes only, the interval, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli
from ucdbench_plugins.shared.fewshot.augmentation import Support
from ucdbench_plugins.shared.fewshot.diffusion import (
    ClassConditionalDiffusion, DiffusionEditor, denoising_timesteps, start_timestep,
)
from ucdbench_plugins.shared.fewshot.generative import GeNIe, GeNIeAda, Img2Img, Txt2Img, adaptive_ratio_index
from ucdbench_plugins.shared.fewshot.mixing import CutMix, MixUp
from ucdbench_plugins.tasks.fewshot.episodes import mean_and_interval, sample_episode


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


def test_mixing_pairs_like_genie_keeps_the_target_majority_and_labels_the_target():
    support = _support(k_shot=1)
    for mixing in (MixUp(1.0), CutMix(1.0)):
        made = mixing.augment(support, torch.Generator().manual_seed(0), _embed)
        assert made.labels.tolist() == [0, 0, 1, 1, 2, 2]
        for image, label, source in zip(made.images, made.labels, made.sources):
            target = support.images[int(label)]
            if isinstance(mixing, MixUp):  # share · target + (1 − share) · source, share ≥ 0.5
                share = float((image[0, 0, 0] - source[0, 0, 0]) / (target[0, 0, 0] - source[0, 0, 0]))
                assert 0.5 <= share <= 1.0
            else:  # at least half the pixels are the target's, the rest the source's
                from_target = torch.isclose(image, target).float().mean()
                assert from_target >= 0.5 - 1 / 16
                assert bool(torch.all(torch.isclose(image, target) | torch.isclose(image, source)))


def test_genie_ada_keeps_the_edit_right_after_the_largest_projected_jump():
    prototype, source = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    # projections on the source→prototype direction: 0.1, 0.2, 0.7, 0.8, 0.85; the orthogonal part varies wildly
    edits = torch.tensor([[0.2, 5.0], [0.4, -3.0], [1.4, 0.0], [1.6, 9.0], [1.7, 1.0]])
    assert adaptive_ratio_index(edits, source, prototype) == 2
    # jumps are measured along the direction, in its units: |Δ coordinate| · ‖v‖
    shifted = torch.tensor([[1.0, 0.0], [1.1, 0.0], [1.2, 0.0], [1.3, 0.0], [2.5, 0.0]])
    assert adaptive_ratio_index(shifted, torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0])) == 4


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
def test_cli_missing_stable_diffusion_or_folder_is_a_usage_error(tmp_path: Path):
    offline = run_cli("run", "--method", "genie", "--task", "fewshot", "--preset", "smoke", "--set",
                      "task.generator=stable-diffusion", "--set", "task.generator_model=nobody/no-such-model",
                      results=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2 and "not in the local Hugging Face cache" in offline.stderr
    folder = run_cli("run", "--method", "genie", "--task", "fewshot", "--preset", "smoke", "--set",
                     "task.dataset=folder", "--set", f"task.folder={tmp_path / 'missing'}", results=tmp_path)
    assert folder.returncode == 2 and "base/" in folder.stderr
