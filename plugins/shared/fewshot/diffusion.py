"""Diffusion editing at a noise ratio r, the one primitive GeNIe and its baselines share.

An image is noised to the timestep ``int(T * r)`` of the training schedule (T training steps)
and denoised from there with the sampler's steps ``t`` that satisfy ``t - 1 <= T * r``,
conditioned on a class; r above :data:`PURE_NOISE_RATIO` starts from pure noise, which is
text-to-image generation. Both rules are those of the official code (``editor.py``:
``ImageEditor.diffusion_forward`` noises to ``int(num_train_timesteps * percent_noise)`` and
returns pure noise above 0.999; its patched pipeline ``__call__`` skips the steps with
``t - 1 > 1000 * percent_noise``), rather than diffusers' img2img ``strength``, which starts
at the first sampler step of the last ``strength`` share of steps and so noises slightly less.

:class:`DiffusionEditor` implements that loop once, with classifier-free guidance, for any
denoiser; :class:`ClassConditionalDiffusion` is the in-suite one (a small diffusers
``UNet2DModel`` with class embeddings, trained by :func:`train_class_conditional` with a DDPM
schedule and sampled with DDIM), and :mod:`.stable_diffusion` wraps Stable Diffusion 1.5.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PURE_NOISE_RATIO = 0.999
"""Ratios above this start from pure noise: text-to-image (``editor.py``, ``diffusion_forward``)."""

UNCONDITIONAL = -1
"""The class id that asks a denoiser for its unconditional prediction (guidance's other half)."""


def start_timestep(ratio: float, train_timesteps: int) -> int:
    """The training-schedule timestep an image is noised to at noise ratio ``ratio``."""
    return int(train_timesteps * ratio)


def denoising_timesteps(timesteps: Iterable[int], ratio: float, train_timesteps: int) -> list[int]:
    """The sampler's timesteps the reverse process runs from noise ratio ``ratio``: those with
    ``t - 1 <= T * ratio`` (``editor.py``, the patched ``__call__``), in the sampler's order."""
    return [int(t) for t in timesteps if int(t) - 1 <= train_timesteps * ratio]


class DiffusionEditor(nn.Module):
    """Noise images to ratio r and denoise them towards classes: ``edit`` is GeNIe's primitive.

    Subclasses give the space diffusion runs in (pixels, or a VAE's latents), the noise
    prediction for a batch of classes (:data:`UNCONDITIONAL` for none) and the sampler.
    """

    guidance_scale: float
    inference_steps: int

    @abstractmethod
    def sampler(self) -> Any:
        """A fresh diffusers scheduler (``set_timesteps``, ``step``, ``add_noise``, ``config``)."""

    @abstractmethod
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → the samples diffusion runs on."""

    @abstractmethod
    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        """Samples → images in [0, 1]."""

    @abstractmethod
    def predict_noise(self, samples: torch.Tensor, timestep: int, classes: torch.Tensor) -> torch.Tensor:
        """The denoiser's noise prediction for ``classes``; a class of :data:`UNCONDITIONAL`
        asks for the unconditional prediction."""

    def guided_noise(self, samples: torch.Tensor, timestep: int, classes: torch.Tensor) -> torch.Tensor:
        """Classifier-free guidance, u + s (c - u), with the conditional and unconditional
        predictions in one batch; the conditional prediction alone at s = 1."""
        if self.guidance_scale == 1.0:
            return self.predict_noise(samples, timestep, classes)
        both = self.predict_noise(torch.cat([samples, samples]), timestep,
                                  torch.cat([classes, torch.full_like(classes, UNCONDITIONAL)]))
        conditional, unconditional = both.chunk(2)
        return unconditional + self.guidance_scale * (conditional - unconditional)

    @torch.no_grad()
    def edit(self, images: torch.Tensor, classes: torch.Tensor, ratio: float,
             generator: torch.Generator) -> torch.Tensor:
        """``images`` (B, C, H, W) in [0, 1] noised to ``ratio`` and denoised towards ``classes``
        (B,) (ids of the task's ``class_names``); noise is drawn from ``generator`` (on CPU, so
        the same seed gives the same images on every device)."""
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"noise ratio {ratio} is outside (0, 1]")
        device = next(self.parameters()).device
        scheduler = self.sampler()
        scheduler.set_timesteps(self.inference_steps)
        train_steps = scheduler.config.num_train_timesteps
        clean = self.encode(images.to(device))
        noise = torch.randn(clean.shape, generator=generator).to(device=device, dtype=clean.dtype)
        if ratio > PURE_NOISE_RATIO:
            samples = noise * getattr(scheduler, "init_noise_sigma", 1.0)
        else:
            start = torch.full((len(clean),), start_timestep(ratio, train_steps), dtype=torch.long, device=device)
            samples = scheduler.add_noise(clean, noise, start)
        classes = classes.to(device)
        for t in denoising_timesteps(scheduler.timesteps, ratio, train_steps):
            model_input = scheduler.scale_model_input(samples, t)
            eps = self.guided_noise(model_input, t, classes)
            samples = scheduler.step(eps, t, samples, generator=generator).prev_sample
        return self.decode(samples).clamp(0.0, 1.0)


class ClassConditionalDiffusion(DiffusionEditor):
    """A small class-conditional pixel-space diffusion model (diffusers ``UNet2DModel`` with a
    class embedding, one extra "null" class for guidance), trained on every class of the task:
    the in-suite stand-in for a text-to-image model that knows every concept."""

    def __init__(self, num_classes: int, image_size: int, in_chans: int, width: int,
                 inference_steps: int, guidance_scale: float, train_timesteps: int = 1000) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.num_classes = num_classes
        self.inference_steps = inference_steps
        self.guidance_scale = guidance_scale
        self.train_timesteps = train_timesteps
        self.unet = UNet2DModel(
            sample_size=image_size, in_channels=in_chans, out_channels=in_chans, layers_per_block=1,
            block_out_channels=(width, 2 * width, 2 * width), norm_num_groups=min(8, width),
            down_block_types=("DownBlock2D",) * 3, up_block_types=("UpBlock2D",) * 3,
            num_class_embeds=num_classes + 1,
        )

    def training_schedule(self) -> Any:
        from diffusers import DDPMScheduler

        return DDPMScheduler(num_train_timesteps=self.train_timesteps)

    def sampler(self) -> Any:
        from diffusers import DDIMScheduler

        return DDIMScheduler.from_config(self.training_schedule().config)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2.0 - 1.0

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        return (samples + 1.0) / 2.0

    def predict_noise(self, samples: torch.Tensor, timestep: int | torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        labels = torch.where(classes == UNCONDITIONAL, self.num_classes, classes)
        return self.unet(samples, timestep, class_labels=labels).sample


def train_class_conditional(model: ClassConditionalDiffusion, images: torch.Tensor, labels: torch.Tensor, *,
                            steps: int, batch_size: int, lr: float, seed: int, null_rate: float = 0.1,
                            progress: Callable[..., Iterable[Any]] = lambda it, **_: it) -> list[float]:
    """DDPM training (ε-prediction, MSE) on ``images`` in [0, 1] with their ``labels``; a
    ``null_rate`` share of labels is replaced by the null class so that the same network gives
    the unconditional prediction classifier-free guidance needs. Returns the loss per step."""
    generator = torch.Generator().manual_seed(seed)
    schedule = model.training_schedule()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in progress(range(steps), desc="train the in-suite diffusion model", total=steps):
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        clean = model.encode(images[idx])
        classes = labels[idx].clone()
        classes[torch.rand(batch_size, generator=generator) < null_rate] = UNCONDITIONAL
        noise = torch.randn(clean.shape, generator=generator)
        t = torch.randint(0, schedule.config.num_train_timesteps, (batch_size,), generator=generator)
        prediction = model.predict_noise(schedule.add_noise(clean, noise, t), t, classes)
        loss = F.mse_loss(prediction, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses
