"""Stable Diffusion 1.5 as the few-shot task's generator (the ``paper`` preset), through diffusers.

As the official ``editor.py`` (``ImageEditor``): images resized to 512, encoded to the VAE's
latent mode scaled by its scaling factor, noised and denoised by :class:`DiffusionEditor`'s
loop with a DPM-Solver multistep sampler (50 steps) and classifier-free guidance 7.5, prompted
"a photo of a {class}." (``genie.py``). Weights come from a local folder or the Hugging Face
cache; :func:`unavailable_reason` says, before anything runs, why they cannot be loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ucdbench_plugins.shared.fewshot.diffusion import UNCONDITIONAL, DiffusionEditor

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
EDIT_SIDE = 512


def _offline() -> list[str]:
    return [v for v in OFFLINE_VARIABLES if os.environ.get(v, "") not in ("", "0")]


def unavailable_reason(source: str) -> str | None:
    """None when the pipeline ``source`` (a local folder or a hub id) can be loaded here, or
    may be downloaded; otherwise what is missing and how to fix it. A hub id that is not cached
    is refused when the hub is offline, and when it reads as a mistyped folder (its parent is a
    folder here). Imports no torch."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        if (folder / "model_index.json").is_file():
            return None
        return (f"folder {source} has no model_index.json: give a folder written by a diffusers "
                "pipeline's save_pretrained")
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(source, "model_index.json")
    except ValueError:  # huggingface_hub's HFValidationError: not a hub id
        return (f"{source!r} is no folder (relative to {Path.cwd()}) and not a hub id: give a diffusers pipeline "
                "folder or a hub id")
    if isinstance(cached, str):
        return None
    if folder.parent != Path(".") and folder.parent.is_dir():
        return (f"no folder {source} (relative to {Path.cwd()}), though {folder.parent} is one, and no hub id "
                f"{source!r} is cached: give the folder a diffusers pipeline was saved to")
    offline = _offline()
    if offline:
        return (f"Stable Diffusion {source!r} is not in the local Hugging Face cache and {' and '.join(offline)} "
                f"{'is' if len(offline) == 1 else 'are'} set: run once online to cache it, or set "
                "task.generator_model to a local folder written by save_pretrained")
    return None


class StableDiffusionEditor(DiffusionEditor):
    """Stable Diffusion's VAE, text encoder and UNet, editing towards "a photo of a {class}."."""

    def __init__(self, source: str, class_names: list[str], inference_steps: int, guidance_scale: float) -> None:
        super().__init__()
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline.from_pretrained(source, safety_checker=None, local_files_only=bool(_offline()))
        self.unet, self.vae, self.text_encoder = pipe.unet, pipe.vae, pipe.text_encoder
        self.tokenizer = pipe.tokenizer
        self.scheduler_config = dict(pipe.scheduler.config)
        self.prompts = [f"a photo of a {name}." for name in class_names]
        self.inference_steps = inference_steps
        self.guidance_scale = guidance_scale

    def sampler(self) -> Any:
        from diffusers import DPMSolverMultistepScheduler

        return DPMSolverMultistepScheduler.from_config(self.scheduler_config)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        self.side = images.shape[-1]
        pixels = F.interpolate(images, size=(EDIT_SIDE, EDIT_SIDE), mode="bicubic").clamp(0, 1) * 2 - 1
        return self.vae.encode(pixels).latent_dist.mode() * self.vae.config.scaling_factor

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        pixels = (self.vae.decode(samples / self.vae.config.scaling_factor).sample + 1) / 2
        return F.interpolate(pixels, size=(self.side, self.side), mode="area")

    def _text(self, prompts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(tokens.to(self.text_encoder.device))[0]

    def predict_noise(self, samples: torch.Tensor, timestep: int, classes: torch.Tensor) -> torch.Tensor:
        prompts = ["" if int(c) == UNCONDITIONAL else self.prompts[int(c)] for c in classes]
        return self.unet(samples, timestep, encoder_hidden_states=self._text(prompts)).sample
