"""The paper-shape tier: every family's ``--preset paper`` run as a user runs it at real scale —
through the CLI, on local data of the real layouts (an ImageFolder, extracted video frames and
flow, a mini-ImageNet-style few-shot folder), random timm checkpoints and a tiny random
Stable Diffusion pipeline folder, all made here — shrunk by settings only (epochs, batches,
steps, image size, bank and cluster counts), each reaching status ok and the leaderboard.

Select it with ``-m ucdbench_paper_shape``. ``UCDBENCH_TEST_HARDWARE=cuda`` runs it on the
GPU (``--hardware cuda`` in every run); without a visible GPU it is then skipped.

The families run in groups, one ``ucdbench run -f`` per group (one process, so the tier pays
for torch's and timm's import once a group), sharing the session's data and checkpoints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import run_cli
from test_fewshot_folder import _folder as write_fewshot_folder
from test_task_imagenet import write_image_folder
from test_task_video import write_video_folder

HARDWARE = os.environ.get("UCDBENCH_TEST_HARDWARE", "cpu")
if HARDWARE not in ("cpu", "cuda"):
    raise pytest.UsageError(f"UCDBENCH_TEST_HARDWARE={HARDWARE!r}: set it to cpu (the default) or cuda")

pytestmark = [
    pytest.mark.ucdbench_paper_shape,
    pytest.mark.ucdbench_e2e,
    pytest.mark.skipif(HARDWARE == "cuda" and not torch.cuda.is_available(),
                       reason="UCDBENCH_TEST_HARDWARE=cuda and no CUDA GPU is visible"),
]

CNN, VIT = "test_resnet", "test_vit"
"""timm's tiny test networks: a ResNet-shaped CNN and a 6-block ViT with a class token."""

SHRUNK = {"epochs": 1, "batch_size": 6}
"""The methods' training, shrunk (each family adds what its paper preset makes large)."""

WORKERS = 0 if HARDWARE == "cpu" else 2
"""Loading processes (the paper preset's 8 cost more to start than 12 tiny images cost to load)."""

EVALUATIONS = {
    "eval.latency.batch_size": 2, "eval.latency.warmup": 0, "eval.latency.min_iters": 1,
    "eval.latency.min_seconds": 0, "eval.latency.max_iters": 2, "eval.flops.batch_size": 2,
    "eval.linear-probe.epochs": 1, "eval.flops-under-attack.samples": 2,
    "eval.flops-under-attack.energy_repeats": 1, "eval.generation-cost.repeats": 1,
}
"""The evaluations' paper sizes (timed seconds, passes, samples), shrunk."""

BACKDOOR = {"trigger_size": 4, "poison_rate": 0.2, "poison_steps": 2, "poison_batch": 4}
"""Backdoor: a trigger that fits 32-pixel images, and poisons (the paper's 0.05% of ImageNet's
training set would be none of 12 images)."""

MEAN_SHIFT = {"bank_size": 12}

GENERATOR = {"task.inference_steps": 4}
"""Stable Diffusion's sampler steps (the paper's 50), shrunk; GeNIe-Ada also chooses among
two ratios, not five (each ratio is one more edit of every source)."""


def _family(name: str, method: str, **settings: Any) -> tuple[str, str, dict[str, Any]]:
    return name, method, settings


def _reference(method: str, **settings: Any) -> str:
    """A run reference to ``method`` shrunk as the runs that refer to it (its evaluations too:
    a referenced run does not take the referring run's ``eval.*`` settings)."""
    return ":".join([method, *(f"{key}={value}" for key, value in {**SHRUNK, **EVALUATIONS, **settings}.items())])


GROUPS: dict[str, tuple[str, dict[str, Any], list[tuple[str, str, dict[str, Any]]]]] = {
    # name: (task, the group's settings, [(family, method, its settings)])
    "imagenet-cnn": ("imagenet", {"task.model": CNN, "task.image_size": 32, **SHRUNK}, [
        _family("full-ft", "full-ft"),
        _family("MCNC", "mcnc", d=500),
        _family("PRANC (few bases)", "pranc", bases=4, chunk_size=20000),
        _family("backdoor ResNet badnets", "backdoor", variant="badnets", **BACKDOOR),
        _family("backdoor ResNet hidden", "backdoor", variant="hidden", **BACKDOOR),
    ]),
    "imagenet-vit": ("imagenet", {"task.model": VIT, "task.image_size": 32, **SHRUNK}, [
        _family("LoRA", "lora"),
        _family("NOLA", "nola"),
        _family("backdoor DeiT badnets", "backdoor", variant="badnets", **BACKDOOR),
        _family("backdoor DeiT hidden", "backdoor", variant="hidden", **BACKDOOR),
        _family("A-ViT", "avit"),
        _family("ATS", "ats"),
        _family("SlowFormer", "slowformer", target_settings=SHRUNK),
    ]),
    "mean-shift": ("imagenet", {"task.model": CNN, "task.image_size": 32, **SHRUNK}, [
        _family("BYOL", "byol", **MEAN_SHIFT),
        _family("MSF", "msf", **MEAN_SHIFT),
        _family("CMSF 2Q", "cmsf", constraint="2q", **MEAN_SHIFT),
        _family("CMSF KM", "cmsf", constraint="km", clusters=3, **MEAN_SHIFT),
        _family("CMSF supervised", "cmsf-sup", **MEAN_SHIFT),
        _family("CMSF semi-supervised", "cmsf-semi", **MEAN_SHIFT),
        _family("SimReg", "simreg", teacher=_reference("byol", **MEAN_SHIFT)),
    ]),
    "video": ("video", {"task.model": CNN, "task.image_size": 32, "task.flow_frames": 2, **SHRUNK}, [
        _family("CMSF cross-modal", "cmsf-xmodal", **MEAN_SHIFT,
                other=_reference("byol", **MEAN_SHIFT, **{"task.modality": "flow"})),
    ]),
    "fewshot": ("fewshot", {"task.image_size": 32, "task.n_way": 2, "task.queries": 2, "task.episodes": 2,
                            "task.pretrain_epochs": 1}, [
        _family("GeNIe fewshot-none", "fewshot-none"),
        _family("GeNIe MixUp", "mixup"),
        _family("GeNIe", "genie", **GENERATOR),
        _family("GeNIe-Ada", "genie-ada", ratios=[0.5, 0.9], **GENERATOR),
        _family("GeNIe img2img", "img2img", **GENERATOR),
    ]),
}
"""Every family of issue 28, grouped by what they share. The few-shot group's generator is the
paper preset's Stable Diffusion, given as the session's tiny random pipeline folder."""


@pytest.fixture(scope="session")
def paper_data(tmp_path_factory) -> dict[str, Path]:
    """The datasets and checkpoints every group reads, made once a session: 3 classes of 4
    training and 2 eval images (or videos), a few-shot folder of 2 base and 3 novel classes,
    random weights of both networks at 1,000 classes, as published checkpoints are, and a tiny
    random Stable Diffusion pipeline."""
    import timm

    root = tmp_path_factory.mktemp("paper-shape")
    write_image_folder(root / "imagenet", {"train": 4, "val": 2})
    write_video_folder(root / "video", {"train": 4, "val": 2}, frames=4)
    write_fewshot_folder(root / "fewshot")
    data = {"imagenet": root / "imagenet", "video": root / "video", "fewshot": root / "fewshot"}
    for name in (CNN, VIT):
        torch.manual_seed(0)
        data[name] = root / f"{name}.pth"
        torch.save(timm.create_model(name, num_classes=1000).state_dict(), data[name])
    data["stable-diffusion"] = write_tiny_stable_diffusion(root / "stable-diffusion")
    return data


def byte_characters() -> list[str]:
    """The 256 characters a byte-level BPE (GPT-2's, CLIP's) spells the bytes 0 … 255 with:
    the printable ones as themselves, the others shifted past 255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = iter(range(256, 512))
    return [chr(b if b in printable else next(shifted)) for b in range(256)]


def write_tiny_stable_diffusion(folder: Path) -> Path:
    """A Stable Diffusion pipeline folder of random weights, as ``save_pretrained`` writes one,
    that ``StableDiffusionPipeline.from_pretrained`` loads offline: SD 1.5's parts (a CLIP
    tokenizer and text encoder, a VAE of 4 latent channels, a cross-attention UNet, a PNDM
    scheduler of SD's betas), each tiny. The tokenizer's vocabulary is bytes alone (no merges),
    so it tokenises any prompt; the VAE halves 5 times, so the editor's 512-pixel images are
    16-latent-pixel samples."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    spelling = folder.parent / f"{folder.name}-tokenizer"
    spelling.mkdir(parents=True)
    words = [*byte_characters(), *(c + "</w>" for c in byte_characters()), "<|startoftext|>", "<|endoftext|>"]
    (spelling / "vocab.json").write_text(json.dumps({word: i for i, word in enumerate(words)}))
    (spelling / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(spelling / "vocab.json"), str(spelling / "merges.txt"),
                              pad_token="<|endoftext|>", model_max_length=77)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    vae = AutoencoderKL(latent_channels=4, block_out_channels=(4, 8, 8, 8, 8, 8), layers_per_block=1, norm_num_groups=4,
                        down_block_types=("DownEncoderBlock2D",) * 6, up_block_types=("UpDecoderBlock2D",) * 6)
    unet = UNet2DConditionModel(sample_size=16, block_out_channels=(32, 64), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                cross_attention_dim=text_encoder.config.hidden_size, attention_head_dim=8)
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              skip_prk_steps=True, steps_offset=1)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                            safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(folder)
    return folder


def _task_settings(task: str, shared: dict[str, Any], data: dict[str, Path]) -> dict[str, Any]:
    if task == "fewshot":
        return {"task.folder": str(data["fewshot"]), "task.generator_model": str(data["stable-diffusion"]), **shared}
    settings = {"task.root": str(data[task]), "task.workers": WORKERS, **shared}
    if task == "imagenet":  # the pretrained base's weights (video's flow networks train from scratch)
        settings["task.checkpoint"] = str(data[shared["task.model"]])
    return settings


def _toml(value: Any) -> str:
    """A TOML value: JSON's spelling of strings, numbers and booleans is TOML's too; a dict an inline table."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(key)} = {_toml(item)}" for key, item in value.items()) + " }"
    return json.dumps(value)


def write_experiment(path: Path, group: str, data: dict[str, Path]) -> Path:
    """The group's experiment file: one [[runs]] block per family."""
    task, shared, families = GROUPS[group]
    common = {**_task_settings(task, shared, data), **EVALUATIONS}
    lines = ["[experiment]", 'preset = "paper"', "seeds = [0]", f"task = {_toml(task)}", f"hardware = {_toml(HARDWARE)}"]
    for family, method, settings in families:
        lines += ["", "[[runs]]", f"name = {_toml(family)}", f"methods = [{_toml(method)}]",
                  f"set = {_toml({**common, **settings})}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def family_of(record: dict[str, Any], group: str) -> str | None:
    """Which of the group's families a record is the run of (None: a referenced run, such as a teacher)."""
    for family, method, settings in GROUPS[group][2]:
        config = record["method"]["config"]
        if record["method"]["name"] == method and all(
                key not in config or config[key] == value for key, value in settings.items()):
            return family
    return None


@pytest.mark.parametrize("group", list(GROUPS))
def test_each_family_paper_preset_runs_on_local_data_and_reaches_the_leaderboard(group, paper_data, tmp_path):
    results, boards = tmp_path / "results", tmp_path / "leaderboards"
    experiment = write_experiment(tmp_path / f"{group}.toml", group, paper_data)
    ran = run_cli("run", "-f", str(experiment), results=results, timeout=600)
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")] if results.exists() else []
    status = {family_of(r, group): (r["status"], r["error"]) for r in records}
    families = [family for family, _, _ in GROUPS[group][2]]
    failed = {f: status.get(f, ("no record", ran.stderr[-2000:])) for f in families if status.get(f, ("",))[0] != "ok"}
    assert not failed, "\n".join(f"{family}: {state}: {error}" for family, (state, error) in failed.items())
    assert ran.returncode == 0, ran.stderr  # and every evaluation was measured
    board = run_cli("leaderboard", "--out", str(boards), results=results)
    assert board.returncode == 0, board.stderr
    rows = leaderboard_methods((boards / f"{GROUPS[group][0]}.md").read_text())
    assert sorted(rows) == sorted(r["method"]["name"] for r in records), "a run is missing from the leaderboard"


def leaderboard_methods(board: str) -> list[str]:
    """The method of each row of the first table of every settings section (``## preset ...``)
    of a task's leaderboard; its rows read ``| method (settings) | ...``."""
    methods = []
    for section in (s for s in board.split("\n## ")[1:] if s.startswith("preset ")):
        table = section.split("\n### ", 1)[1].split("\n#", 1)[0]
        rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method ")]
        methods += [row[2:].split("|", 1)[0].split(" (", 1)[0].strip() for row in rows]
    return methods
