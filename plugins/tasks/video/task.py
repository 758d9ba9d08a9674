"""The ``video`` task: action recognition on a user's local video dataset (UCF-101, HMDB-51)
of extracted frames and optical flow, one modality a run, with a timm model.

``task.modality=rgb`` shows the model one frame of each video, ``flow`` a stack of
``task.flow_frames`` optical-flow fields (:mod:`.clips`): the two streams of a two-stream
network, and the two modalities of CMSF's cross-modal setting, where the constraint for an RGB
encoder comes from a frozen flow encoder of the same videos::

    ucdbench run --method cmsf-xmodal --task video --preset paper --set other=byol:task.modality=flow

Both modalities index the same videos in the same order, so a run on one can consume a run on
the other. The cross-modal experiment (arXiv 2110.10309) pairs UCF-101's RGB with its optical
flow; the official repository (UCDvision/CMSF) has no code for it, so the networks here are the
two-stream network's 2D ones — any timm model; for flow its first convolution takes 2L
channels, adapted by timm from the RGB weights when pretrained — and every image method and
evaluation applies to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ucdbench.api import Setting
from ucdbench_plugins.shared.local_images.task import LocalImageClassification, local_settings
from ucdbench_plugins.shared.local_images.views import strong_transform, weak_transform
from ucdbench_plugins.tasks.video.clips import FlowStack, RGBFrame, flow_eval_spatial, flow_training_spatial
from ucdbench_plugins.tasks.video.data import VIDEO_LAYOUT, open_video_splits

MODALITIES = ("rgb", "flow")


class Video(LocalImageClassification):
    name: ClassVar[str] = "video"
    env: ClassVar[str] = "UCDBENCH_VIDEO"
    layout: ClassVar[str] = VIDEO_LAYOUT
    settings: ClassVar[dict[str, Setting]] = {
        **local_settings("the video folder (train/ and val/, a folder per video with rgb/ and flow/); '' reads "
                         "$UCDBENCH_VIDEO"),
        "modality": Setting("rgb", "what the model sees of a video: one RGB frame, or a stack of optical-flow fields",
                            choices=MODALITIES),
        "flow_frames": Setting(10, "flow fields stacked into one input (2 channels each; the two-stream network's L)",
                               minimum=1),
    }

    def prepare(self) -> None:
        self.in_chans = 3 if self.config["modality"] == "rgb" else 2 * self.config["flow_frames"]
        super().prepare()

    def open_splits(self, root: Path) -> tuple[Any, Any, list[str]]:
        return open_video_splits(root)

    def transforms(self, pixels: dict[str, Any]) -> tuple[Any, Any]:
        if self.config["modality"] == "rgb":
            training, scoring = super().transforms(pixels)
            return RGBFrame(training, random=True), RGBFrame(scoring, random=False)
        frames = self.config["flow_frames"]
        return (FlowStack(frames, flow_training_spatial(self.image_size), random=True),
                FlowStack(frames, flow_eval_spatial(self.image_size), random=False))

    def view_transforms(self) -> tuple[Any, Any]:
        """(strong, weak): for RGB a random frame through the MSF/CMSF views; for flow a random
        stack, cropped and mirrored (colour augmentations do not apply to motion)."""
        if self.config["modality"] == "rgb":
            return (RGBFrame(strong_transform(self.image_size), random=True),
                    RGBFrame(weak_transform(self.image_size), random=True))
        frames = self.config["flow_frames"]
        view = FlowStack(frames, flow_training_spatial(self.image_size), random=True)
        return view, view

    def normalisation(self, data_config: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if self.config["modality"] == "rgb":
            return super().normalisation(data_config)
        return (0.5,) * self.in_chans, (0.5,) * self.in_chans
