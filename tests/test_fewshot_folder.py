"""The few-shot task on a local mini-ImageNet-style folder (``base/<class>/*``,
``novel/<class>/*``), on a tiny folder of generated images: its classes, counts and pixels, the
episodes drawn from it, scoring, and the usage errors of a folder that cannot serve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ucdbench.api import UcdbenchError
from ucdbench_plugins.tasks.fewshot.data import load_folder
from ucdbench_plugins.tasks.fewshot.task import FewShotTask
from conftest import run_cli

SIDE = 8
COLOURS = {  # (split, folder): (RGB colour, images)
    ("base", "n01"): ((200, 30, 30), 3),
    ("base", "n02_dog"): ((30, 200, 30), 2),
    ("novel", "bird"): ((30, 30, 200), 4),
    ("novel", "cat_a"): ((200, 200, 30), 4),
    ("novel", "n03"): ((30, 200, 200), 5),
}
NAMES = ["n01", "n02 dog", "bird", "cat a", "n03"]
"""Base classes first, then novel, each in folder-name order; '_' read as a space."""


def _folder(root: Path, colours=COLOURS) -> Path:
    """Solid-colour images of several sizes and formats (the last of each base class a greyscale
    JPEG), each class's images at increasing brightness; plus what the loader must pass over: an empty
    class folder, a text file beside the images, a file among the class folders."""
    for (split, name), (colour, count) in colours.items():
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(count):
            rgb = tuple(round(c * (0.7 + 0.1 * i)) for c in colour)
            image = Image.new("RGB", (10 + i, 12), rgb)
            if split == "base" and i == count - 1:
                image.convert("L").save(folder / f"{i}.JPG")
            else:
                image.save(folder / f"{i}.png")
        (folder / "README.txt").write_text("not an image")
    (root / "base" / "empty").mkdir(parents=True, exist_ok=True)
    (root / "novel").mkdir(exist_ok=True)
    (root / "novel" / "index.csv").write_text("not a class")
    return root


def test_the_folder_gives_its_classes_counts_and_pixels(tmp_path):
    data = load_folder(_folder(tmp_path), SIDE)
    assert data.class_names == NAMES
    assert data.base_classes == [0, 1] and data.novel_classes == [2, 3, 4]
    assert torch.bincount(data.labels).tolist() == [count for _, count in COLOURS.values()]
    assert len(data.images) == len(data.labels) == 18
    first = data.images[torch.tensor([0, 1])]
    assert first.shape == (2, 3, SIDE, SIDE) and first.dtype == torch.float32
    # image 0 of n01 is (200, 30, 30) · 0.7 = (140, 21, 21), resized from 10 × 12: still that colour everywhere
    expected = torch.tensor([140, 21, 21]).float()[:, None, None] / 255
    assert torch.allclose(first[0], expected.expand(3, SIDE, SIDE), atol=1 / 255)
    grey = data.images[torch.tensor([2])][0]  # n01's last image, a greyscale JPEG: three equal channels
    assert torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])


def test_a_folder_without_images_for_a_split_is_a_usage_error(tmp_path):
    root = _folder(tmp_path, {key: value for key, value in COLOURS.items() if key[0] == "base"})
    (root / "novel" / "empty").mkdir()
    with pytest.raises(UcdbenchError, match="base/ and novel/ need class folders with images"):
        load_folder(root, SIDE)


def _task(root: Path, **settings) -> FewShotTask:
    config = {**FewShotTask.defaults("smoke"), "dataset": "folder", "folder": str(root), "image_size": SIDE,
              "n_way": 2, "k_shot": 1, "queries": 2, "episodes": 6, **settings}
    return FewShotTask("smoke", 0, config)


def test_episodes_draw_distinct_images_of_distinct_novel_classes(tmp_path):
    task = _task(_folder(tmp_path))
    assert task.unavailable_reason() is None
    task.prepare()
    assert task.in_chans == 3 and task.class_names == NAMES
    labels = task.data.labels.numpy()
    episodes = list(task.episodes())
    assert len(episodes) == 6
    for episode in episodes:
        assert len(set(episode.classes)) == 2 and set(episode.classes) <= {2, 3, 4}
        assert len(episode.support) == 2 and len(episode.query) == 4  # n_way · k_shot, n_way · queries
        assert len(set(episode.support) | set(episode.query)) == 6  # no image twice
        assert np.array_equal(labels[episode.support], episode.classes[episode.support_labels])
        assert np.array_equal(labels[episode.query], episode.classes[episode.query_labels])
    assert [e.classes.tolist() for e in episodes] == [e.classes.tolist() for e in task.episodes()]  # the seed's
    support, support_labels, classes = task.support_set(0)
    assert support.shape == (2, 3, SIDE, SIDE) and classes.tolist() == episodes[0].classes.tolist()


def test_a_backbone_that_sees_the_colour_scores_every_episode_right(tmp_path):
    """Each class is one colour at several brightnesses: L2-normalised pixels are the same
    direction for every image of a class, another for each other class."""
    task = _task(_folder(tmp_path))
    task.prepare()
    assert task.evaluate(nn.Flatten(), torch.device("cpu")) == {"top1": 100.0, "ci95": 0.0}


def test_a_folder_that_cannot_serve_the_episodes_is_a_usage_error(tmp_path):
    root = _folder(tmp_path)
    with pytest.raises(UcdbenchError, match=r"a novel class has 4 images, fewer than task.k_shot \+ task.queries = 5"):
        _task(root, queries=4).prepare()
    with pytest.raises(UcdbenchError, match="task.n_way=4 but only 3 novel classes"):
        _task(root, n_way=4).prepare()
    missing = tmp_path / "no-novel"
    (missing / "base").mkdir(parents=True)
    assert "has no novel/" in _task(missing).unavailable_reason()


# -- class names -----------------------------------------------------------------------------------


def test_wordnet_id_folders_are_named_by_their_imagenet_label_or_the_users_file(tmp_path):
    from ucdbench_plugins.tasks.fewshot.names import class_name, read_names_file

    assert class_name("n01532829", {}) == "house finch, linnet, Carpodacus mexicanus"
    assert class_name("n01532829_house_finch", {}) == "house finch"  # the official layout: what follows the id
    assert class_name("golden_retriever", {}) == "golden retriever"
    assert class_name("n99999999", {}) is None
    names_file = tmp_path / "names.tsv"
    names_file.write_text("# mine\nn01532829\tfinch\n\nn99999999\tzebra mussel\n")
    names = read_names_file(str(names_file))
    assert class_name("n01532829", names) == "finch" and class_name("n99999999", names) == "zebra mussel"
    names_file.write_text("n01532829 finch\n")
    with pytest.raises(UcdbenchError, match="line 1"):
        read_names_file(str(names_file))


def test_every_mini_imagenet_class_has_an_imagenet_label():
    from importlib import resources

    from ucdbench_plugins.tasks.fewshot.names import imagenet_names

    mini = resources.files("timm.data").joinpath("_info/mini_imagenet_synsets.txt")
    if not mini.is_file():
        pytest.skip("timm ships no mini-ImageNet list here")
    ids = mini.read_text().split()
    assert len(ids) == 100 and all(imagenet_names().get(wnid) for wnid in ids)
    assert len(imagenet_names()) == 1000


def test_a_wordnet_id_folder_no_list_names_is_a_usage_error_until_a_names_file_names_it(tmp_path):
    colours = {("base", "n01440764"): ((200, 30, 30), 3), ("novel", "n01532829"): ((30, 30, 200), 4),
               ("novel", "n99999999"): ((30, 200, 30), 4)}
    root = _folder(tmp_path / "data", colours)
    problem = _task(root).unavailable_reason()
    assert "n99999999" in problem and "task.class_names" in problem and "n01532829" not in problem
    names_file = tmp_path / "names.tsv"
    names_file.write_text("n99999999\tzebra mussel\n")
    task = _task(root, class_names=str(names_file))
    assert task.unavailable_reason() is None
    task.prepare()
    assert task.class_names == ["tench, Tinca tinca", "house finch, linnet, Carpodacus mexicanus", "zebra mussel"]
    assert "is not a file" in _task(root, class_names=str(tmp_path / "missing.tsv")).unavailable_reason()
    embedded = FewShotTask("smoke", 0, FewShotTask.defaults("smoke") | {"class_names": str(names_file)})
    assert "leave task.class_names empty" in embedded.unavailable_reason()


# -- the generator is checked before anything runs, and only by the methods that use it -----------


def _runs(results: Path) -> list[Path]:
    return list((results / "runs").glob("*.json")) if (results / "runs").is_dir() else []


FOLDER_SMOKE = ("--preset", "smoke", "--set", "task.dataset=folder", "--set", f"task.image_size={SIDE}",
                "--set", "task.n_way=2", "--set", "task.queries=2")


@pytest.mark.ucdbench_e2e
def test_cli_a_generator_that_cannot_load_on_a_folder_is_exit_2_before_pretraining(tmp_path):
    root, cache = _folder(tmp_path / "data"), tmp_path / "cache"
    common = ("run", "--method", "genie", "--task", "fewshot", *FOLDER_SMOKE, "--set", f"task.folder={root}")
    offline = run_cli(*common, "--set", "task.generator=stable-diffusion", "--set",
                      "task.generator_model=nobody/no-such-model", results=tmp_path / "r1",
                      env={"HF_HUB_OFFLINE": "1", "UCDBENCH_CACHE": str(cache)})
    assert offline.returncode == 2 and "not in the local Hugging Face cache" in offline.stderr
    assert "in-suite" not in offline.stderr  # which a folder would refuse
    in_suite = run_cli(*common, "--set", "task.generator=in-suite", results=tmp_path / "r2",
                       env={"UCDBENCH_CACHE": str(cache)})
    assert in_suite.returncode == 2 and "task.generator=stable-diffusion" in in_suite.stderr
    (tmp_path / "models").mkdir()  # a mistyped relative folder is refused even with the hub online
    typo = run_cli(*common, "--set", "task.generator=stable-diffusion", "--set", "task.generator_model=models/sd15",
                   results=tmp_path / "r3", env={"HF_HUB_OFFLINE": "0", "UCDBENCH_CACHE": str(cache)}, cwd=tmp_path)
    assert typo.returncode == 2 and "no folder models/sd15" in typo.stderr
    assert not any(_runs(tmp_path / results) for results in ("r1", "r2", "r3"))  # no run started
    assert not (cache / "pretrained" / "fewshot").exists()  # no backbone was pretrained


@pytest.mark.ucdbench_e2e
def test_cli_methods_without_a_generator_run_offline_without_stable_diffusion(tmp_path):
    root = _folder(tmp_path / "data")
    result = run_cli("run", "--method", "fewshot-none", "mixup", "--task", "fewshot", *FOLDER_SMOKE,
                     "--set", f"task.folder={root}", "--set", "task.generator=stable-diffusion", "--set",
                     "task.generator_model=nobody/no-such-model", results=tmp_path / "results",
                     env={"HF_HUB_OFFLINE": "1", "UCDBENCH_CACHE": str(tmp_path / "cache")}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(_runs(tmp_path / "results")) == 2
    assert any((tmp_path / "cache" / "pretrained" / "fewshot").iterdir())  # the backbone pretrained here, offline
