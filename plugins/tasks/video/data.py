"""Reading a local video dataset of extracted frames and optical flow.

The layout is that of UCF-101 or HMDB-51 after frame and TV-L1 flow extraction (as two-stream
networks and CoCLR prepare them), one folder per video. A video is an item of its split; what
the model sees of it (one RGB frame, a stack of flow fields) is the transform's choice
(:mod:`.clips`), so that both modalities index the same videos in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ucdbench.api import UcdbenchError
from ucdbench_plugins.shared.local_images.folders import split_folders

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_LAYOUT = (
    "a folder with train/ and val/ (or test/) splits of one subfolder per class, each holding one folder per "
    "video with rgb/ (its frames as image files, in name order) and flow/ (its optical flow, one image per frame "
    "pair: the horizontal component in the red channel, the vertical in the green, 128 for no motion)"
)


@dataclass(frozen=True)
class Video:
    """One video's frame files, in order."""

    rgb: tuple[Path, ...]
    flow: tuple[Path, ...]


def _frames(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)) if folder.is_dir() else ()


class VideoFolder:
    """The videos of one split as a map-style dataset of (:class:`Video`, label), with
    ``samples`` (video folder, label) and ``targets`` as torchvision's ImageFolder has them."""

    def __init__(self, root: Path) -> None:
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.samples = [(video, label) for label, name in enumerate(self.classes)
                        for video in sorted(p for p in (root / name).iterdir() if p.is_dir())]
        self.targets = [label for _, label in self.samples]
        for video, _ in self.samples:
            if not _frames(video / "rgb") or not _frames(video / "flow"):
                raise UcdbenchError(f"video folder {str(video)!r} has no frames in rgb/ or no flow images in flow/; "
                                    f"the video task reads {VIDEO_LAYOUT}")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Video, int]:
        folder, label = self.samples[index]
        return Video(_frames(folder / "rgb"), _frames(folder / "flow")), label


def open_video_splits(root: Path) -> tuple[Any, Any, list[str]]:
    """(train, eval, class names) of the video folder at ``root``."""
    folders = split_folders(root)
    if folders is None:
        raise UcdbenchError(f"{str(root)!r} has no train/ and val/ folders; the video task reads {VIDEO_LAYOUT}")
    train_dir, eval_dir = folders
    train, evaluation = VideoFolder(train_dir), VideoFolder(eval_dir)
    if train.classes != evaluation.classes:
        raise UcdbenchError(f"the class folders of {str(train_dir)!r} and {str(eval_dir)!r} differ "
                            f"({len(train.classes)} vs {len(evaluation.classes)} classes); they must be the same")
    if not len(train) or not len(evaluation):
        raise UcdbenchError(f"{str(root)!r} has an empty split; the video task reads {VIDEO_LAYOUT}")
    return train, evaluation, train.classes
