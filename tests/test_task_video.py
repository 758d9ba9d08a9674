"""The video task on a tiny generated video folder: the layout's errors, what the model sees of
each modality (pinned by hand on small stacks), the same videos under both modalities, and
cross-modal CMSF end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli
from ucdbench.api import LabelledBatch, UcdbenchError, ViewBatch
from ucdbench_plugins.tasks.video.clips import FlowStack, MirrorFlow
from ucdbench_plugins.tasks.video.data import Video as VideoFrames
from ucdbench_plugins.tasks.video.task import Video

CLASSES = ("jump", "run", "wave")


def write_video_folder(root, per_split: dict[str, int], frames: int = 5) -> None:
    """Per class, videos whose frames are tinted by class and whose flow moves by class:
    class c moves along (c - 1, 1 - c) pixels per frame, encoded around 128."""
    rng = np.random.default_rng(0)
    for split, count in per_split.items():
        for label, name in enumerate(CLASSES):
            for v in range(count):
                video = root / split / name / f"v_{name}_g{v:02d}"
                (video / "rgb").mkdir(parents=True)
                (video / "flow").mkdir()
                for t in range(frames):
                    pixels = rng.integers(0, 80, (24, 24, 3), dtype=np.uint8)
                    pixels[..., label] += 170
                    Image.fromarray(pixels).save(video / "rgb" / f"img_{t:05d}.png")
                for t in range(frames - 1):
                    flow = np.full((24, 24, 3), 128, dtype=np.uint8)
                    flow[..., 0] += np.uint8(20 * (label - 1) % 256)
                    flow[..., 1] -= np.uint8(20 * (label - 1) % 256)
                    flow += rng.integers(0, 5, flow.shape, dtype=np.uint8)
                    Image.fromarray(flow).save(video / "flow" / f"flow_{t:05d}.png")


@pytest.fixture
def video_root(tmp_path):
    write_video_folder(tmp_path / "ucf", {"train": 3, "val": 2})
    return tmp_path / "ucf"


def prepared(root, **overrides) -> Video:
    config = {**Video.defaults("smoke"), "root": str(root), "image_size": 16, **overrides}
    task = Video("smoke", 0, config)
    task.prepare()
    return task


def test_without_data_it_fails_fast_naming_the_variable_and_the_layout(monkeypatch, tmp_path):
    monkeypatch.delenv("UCDBENCH_VIDEO", raising=False)
    with pytest.raises(UcdbenchError, match="UCDBENCH_VIDEO.*rgb/.*flow/"):
        prepared("")
    (tmp_path / "bad" / "train" / "jump" / "v1" / "rgb").mkdir(parents=True)
    (tmp_path / "bad" / "val" / "jump").mkdir(parents=True)
    with pytest.raises(UcdbenchError, match="v1.*no frames in rgb/ or no flow images"):
        prepared(tmp_path / "bad")


def test_each_modality_gives_its_inputs_and_indexes_the_same_videos(video_root):
    rgb, flow = prepared(video_root), prepared(video_root, modality="flow", flow_frames=3)
    assert rgb.in_chans == 3 and flow.in_chans == 6 and rgb.num_train == flow.num_train == 9
    x, y = next(iter(flow.train_batches(4, 1)))
    assert x.shape == (4, 6, 16, 16) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    views = ViewBatch(*next(iter(rgb.view_batches(4, 1))))
    assert views.strong.shape == views.weak.shape == (4, 3, 16, 16)
    rgb_train = [LabelledBatch(*b) for b in rgb.labelled_batches("train", 4)]
    flow_train = [LabelledBatch(*b) for b in flow.labelled_batches("train", 4)]
    assert all(torch.equal(a.index, b.index) and torch.equal(a.label, b.label) for a, b in zip(rgb_train, flow_train))
    assert flow.base_model(pretrained=False)(flow_train[0].images).shape == (4, 3)
    # class c's flow moves by 20·(c − 1) px-levels right and up: the scored stacks carry it
    for batch in flow_train:
        u = batch.images[:, 0::2].mean(dim=(1, 2, 3))
        assert torch.allclose(u, 0.5 + 20 * (batch.label - 1) / 255 + 2 / 255, atol=0.01)


def test_a_flow_stack_takes_consecutive_fields_from_the_middle_and_repeats_the_last(tmp_path):
    paths = []
    for i in range(4):  # field i: u = 100 + 10·i, v = 50 + i
        pixels = np.zeros((2, 2, 3), dtype=np.uint8)
        pixels[..., 0], pixels[..., 1] = 100 + 10 * i, 50 + i
        paths.append(tmp_path / f"flow_{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    video = VideoFrames((), tuple(paths))

    def fields(frames):
        stack = FlowStack(frames, lambda x: x, random=False)(video)
        assert stack.shape == (2 * frames, 2, 2)
        return [round(float(u) * 255) for u in stack[0::2, 0, 0]], [round(float(v) * 255) for v in stack[1::2, 0, 0]]

    assert fields(3) == ([110, 120, 130], [51, 52, 53])  # 2 possible starts: the middle one is 1
    assert fields(6) == ([100, 110, 120, 130, 130, 130], [50, 51, 52, 53, 53, 53])
    drawn = {tuple(fields_u) for fields_u in (
        [round(float(u) * 255) for u in FlowStack(2, lambda x: x, random=True)(video)[0::2, 0, 0]] for _ in range(40))}
    assert drawn == {(100, 110), (110, 120), (120, 130)}


def test_mirrored_flow_negates_the_horizontal_motion():
    stack = torch.zeros(4, 2, 3)
    stack[0], stack[1] = 0.7, 0.2  # field 1: u = +0.2, v = −0.3 around 0.5
    stack[2, :, 0] = 0.9  # field 2: motion in the left column only
    stack[3] = 0.5
    mirrored = MirrorFlow(p=1.0)(stack)
    assert torch.allclose(mirrored[0], torch.full((2, 3), 0.3)) and torch.equal(mirrored[1], stack[1])
    assert torch.allclose(mirrored[2, :, 2], torch.full((2,), 0.1)) and torch.allclose(mirrored[2, :, 0], torch.ones(2))
    assert torch.equal(MirrorFlow(p=0.0)(stack), stack)


@pytest.mark.ucdbench_e2e
def test_cross_modal_cmsf_constrains_rgb_by_a_flow_encoder_end_to_end(video_root, tmp_path):
    results = tmp_path / "results"
    common = ["--task", "video", "--preset", "smoke", "--set", f"task.root={video_root}", "--set", "task.image_size=16",
              "--set", "task.flow_frames=2", "--set", "bank_size=9"]
    result = run_cli("run", "--method", "cmsf-xmodal", *common, "--set", "other=byol:task.modality=flow",
                     results=results)
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    by_method = {r["method"]["name"]: r for r in records}
    assert set(by_method) == {"cmsf-xmodal", "byol"} and all(r["status"] == "ok" for r in records)
    assert by_method["byol"]["task"]["config"]["modality"] == "flow"
    xmodal = by_method["cmsf-xmodal"]
    assert xmodal["references"]["other"][0]["key"] == by_method["byol"]["key"]
    assert 0 <= xmodal["method_metrics"]["purity"] <= 100
    assert 0 <= xmodal["evaluations"]["knn"]["nn1_top1"] <= 100
    wrong = run_cli("run", "--method", "cmsf-xmodal", *common, results=results)
    assert wrong.returncode == 2 and "edges" in wrong.stderr and "rgb" in wrong.stderr
