"""CompGS: k-means, the codec, quantisation-aware training and the methods on a tiny scene."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load, save

from ucdbench.contracts.interfaces import Artifact, FitContext
from ucdbench_plugins.methods.compgs.codec import QUANTISED, QuantisedScene, bits_for, decode, encode, pack_bits, unpack_bits
from ucdbench_plugins.methods.compgs.kmeans import assign, centroid_means, initial_centroids, kmeans
from ucdbench_plugins.shared.gaussians.model import PARAMETER_NAMES, random_gaussians


def test_chunked_assignment_equals_brute_force_argmin():
    generator = torch.Generator().manual_seed(0)
    points, centroids = torch.randn(1000, 7, generator=generator), torch.randn(37, 7, generator=generator)
    chunked = assign(points, centroids, chunk_bytes=37 * 4 * 64)  # 64-row chunks
    assert torch.equal(chunked, torch.cdist(points, centroids).argmin(dim=1))


@pytest.mark.parametrize("k", [1024, 1100])  # whole groups, and a padded last group
def test_grouped_argmin_of_large_codebooks_equals_plain_argmin_ties_included(k):
    generator = torch.Generator().manual_seed(k)
    points, centroids = torch.randn(700, 6, generator=generator), torch.randn(k, 6, generator=generator)
    centroids[k - 1] = centroids[3]  # an exact tie: the first index wins, as argmin's does
    points[5] = centroids[3]
    distances = (centroids * centroids).sum(dim=1) - 2 * points @ centroids.T
    labels = assign(points, centroids, chunk_bytes=k * 4 * 64)
    assert torch.equal(labels, distances.argmin(dim=1))
    assert int(labels[5]) == 3


def test_lloyd_steps_never_increase_inertia_and_match_scikit_learn():
    from sklearn.cluster import KMeans

    generator = torch.Generator().manual_seed(1)
    points = torch.randn(3000, 5, generator=generator, dtype=torch.float64)
    init = initial_centroids(points, 20, generator)
    inertias = []
    for steps in range(1, 6):
        centroids, labels = kmeans(points, init, steps)
        inertias.append(float(((points - centroids[labels]) ** 2).sum()))
    assert all(b <= a + 1e-9 for a, b in zip(inertias, inertias[1:]))
    reference = KMeans(20, init=init.numpy(), n_init=1, max_iter=5, tol=0.0, algorithm="lloyd").fit(points.numpy())
    torch.testing.assert_close(centroids, torch.from_numpy(reference.cluster_centers_), atol=1e-8, rtol=1e-8)


def test_empty_clusters_keep_their_centroid():
    points = torch.zeros(10, 2)
    previous = torch.tensor([[0.0, 0.0], [5.0, 5.0]])
    updated = centroid_means(points, assign(points, previous), previous)
    assert torch.equal(updated, previous)


@pytest.mark.parametrize("bits", [1, 3, 8, 13])
def test_bit_packing_round_trips_in_the_promised_size(bits):
    values = torch.randint(0, 2**bits, (1001,), generator=torch.Generator().manual_seed(bits))
    packed = pack_bits(values, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(1001 * bits / 8)
    assert torch.equal(unpack_bits(packed, bits, 1001), values)


def _quantised_scene(count: int = 600, seed: int = 0) -> tuple[QuantisedScene, dict[str, torch.Tensor]]:
    from ucdbench_plugins.methods.compgs.quantise import cluster_scene

    generator = torch.Generator().manual_seed(seed)
    state = random_gaussians(count, 3, generator)
    sizes = {"sh_rest": 16, "sh_dc": 64, "scales": 32, "quats": 32}
    return cluster_scene(state, sizes, 5, generator), state


def test_codec_round_trip_is_exact_for_kept_parts_and_codebook_entries():
    scene, _ = _quantised_scene()
    tensors, metadata, order = encode(scene)
    stored = load(save(tensors))  # through the bytes a file would hold
    decoded = decode(stored, metadata)
    assert torch.equal(decoded["means"], scene.means[order])
    assert torch.equal(decoded["opacities"], scene.opacities[order])
    for name in QUANTISED:
        expected = scene.codebooks[name][scene.labels[name][order]]
        assert torch.equal(decoded[name].reshape(expected.shape), expected), name
    assert decoded["sh_rest"].shape == (600, 15, 3)
    # The sorted attribute is stored as runs, and that is smaller than plain indices.
    sort_by = metadata["sort_by"]
    assert f"{sort_by}.run_values" in tensors and f"{sort_by}.indices" not in tensors
    run_bytes = tensors[f"{sort_by}.run_values"].numel() + tensors[f"{sort_by}.run_lengths"].numel()
    assert run_bytes < math.ceil(600 * bits_for(scene.codebooks[sort_by].shape[0]) / 8)


def test_bit_quantised_positions_and_opacities():
    scene, _ = _quantised_scene()
    tensors, metadata, order = encode(scene, position_bits=16, opacity_bits=8)
    decoded = decode(tensors, metadata)
    assert tensors["means"].dtype == torch.float16 and tensors["opacities"].dtype == torch.uint8
    assert torch.equal(decoded["means"], scene.means[order].half().float())
    error = (torch.sigmoid(decoded["opacities"]) - torch.sigmoid(scene.opacities[order])).abs()
    assert float(error.max()) <= 0.5 / 255 + 1e-6


def test_straight_through_estimator_renders_centres_and_trains_the_continuous_values():
    from ucdbench_plugins.methods.compgs.quantise import QuantisationAwareGaussians

    _, state = _quantised_scene()
    model = QuantisationAwareGaussians.from_state(state)
    model.start_quantisation({"sh_rest": 16, "sh_dc": 64, "scales": 32, "quats": 32}, 5, torch.Generator().manual_seed(0))
    raw = model.raw()
    for name in QUANTISED:
        centres = model.codebooks[name][model.labels[name]].reshape(raw[name].shape)
        assert torch.equal(raw[name].detach(), centres)
    target = torch.randn_like(raw["sh_dc"])
    (raw["sh_dc"] * target).sum().backward()
    assert torch.equal(model.sh_dc.grad, target)  # identity gradient through the quantiser


def test_pruning_shrinks_parameters_adam_state_and_labels():
    from ucdbench_plugins.methods.compgs.quantise import QuantisationAwareGaussians
    from ucdbench_plugins.shared.gaussians.train import LearningRates, make_optimizer, prune

    _, state = _quantised_scene()
    model = QuantisationAwareGaussians.from_state(state)
    model.start_quantisation({"sh_rest": 16, "sh_dc": 64, "scales": 32, "quats": 32}, 2, torch.Generator().manual_seed(0))
    optimizer = make_optimizer(model, LearningRates(), 1.0, 1.0)
    sum(p.sum() for p in model.parameters()).backward()
    optimizer.step()
    keep = torch.arange(600) % 3 != 0
    kept_means = model.means.detach()[keep].clone()
    prune(model, optimizer, keep)
    model.keep(keep)
    assert torch.equal(model.means.detach(), kept_means)
    for group in optimizer.param_groups:
        param = group["params"][0]
        assert param is getattr(model, group["name"])
        assert optimizer.state[param]["exp_avg"].shape == param.shape
    assert all(len(labels) == 400 for labels in model.labels.values())


def test_methods_refuse_tasks_without_a_scene():
    from ucdbench.discovery.registry import load_registry

    from ucdbench_plugins.methods.compgs.method import CompGS

    digits_cls = load_registry().load("task", "digits")
    reason = CompGS().supports(digits_cls("smoke", 0, digits_cls.defaults("smoke")))
    assert reason == "needs a 3D Gaussian Splatting scene task"


@pytest.fixture(scope="module")
def smoke_scene():
    """The smoke scene, its base model trained once into the session's shared cache."""
    from ucdbench_plugins.tasks.scene.task import SceneTask

    task = SceneTask("smoke", 0, SceneTask.defaults("smoke"))
    task.prepare()
    return task


def _fit(method_class, task):
    ctx = FitContext(torch.device("cpu"), 0, "smoke", lambda iterable, **_: iterable)
    return method_class().fit(task, method_class.defaults("smoke"), ctx)


def test_every_method_scores_exactly_what_its_file_decodes_to(smoke_scene):
    from ucdbench_plugins.methods.compgs.method import CompGS, Half, Int8, KMeansPost, Uncompressed

    sizes = {}
    for method_class in (Uncompressed, Half, Int8, KMeansPost, CompGS):
        method = method_class()
        outcome = _fit(method_class, smoke_scene)
        blob = save(outcome.artifact.tensors)
        rebuilt = method.decode(Artifact(load(blob), outcome.artifact.metadata))
        dense = outcome.dense_weights()
        assert set(dense) == set(PARAMETER_NAMES)
        for name in PARAMETER_NAMES:
            assert torch.equal(rebuilt[name], dense[name]), (method.name, name)
        sizes[method.name] = len(blob)
    base = smoke_scene.base_model()
    for name in PARAMETER_NAMES:  # the uncompressed artifact is the trained scene itself
        assert torch.equal(_fit(Uncompressed, smoke_scene).dense_weights()[name], getattr(base, name).detach())
    assert sizes["gs-uncompressed"] > sizes["gs-half"] > sizes["gs-int8"] > sizes["gs-kmeans-post"]


def test_quantisation_aware_training_beats_post_training_kmeans(smoke_scene):
    from ucdbench_plugins.methods.compgs.method import CompGS, KMeansPost

    cpu = torch.device("cpu")
    post = smoke_scene.evaluate(_fit(KMeansPost, smoke_scene).model, cpu)["psnr"]
    qat = smoke_scene.evaluate(_fit(CompGS, smoke_scene).model, cpu)["psnr"]
    assert qat > post


def test_codebooks_larger_than_the_scene_are_a_clear_error(smoke_scene):
    from ucdbench.contracts.interfaces import UcdbenchError
    from ucdbench_plugins.methods.compgs.method import CompGS

    config = {**CompGS.defaults("smoke"), "k_sh_rest": 10_000}
    ctx = FitContext(torch.device("cpu"), 0, "smoke", lambda iterable, **_: iterable)
    with pytest.raises(UcdbenchError, match="k_<attribute>"):
        CompGS().fit(smoke_scene, config, ctx)


@pytest.mark.parametrize("setting, value", [("position_bits", 24), ("opacity_bits", 16), ("k_quats", 0),
                                            ("kmeans_iters", 0), ("prune_opacity", 1.5), ("lr_scale", 0),
                                            ("qat_steps", 2.5)])
def test_settings_the_file_format_or_training_cannot_take_are_usage_errors(setting, value):
    from ucdbench.contracts.interfaces import UcdbenchError
    from ucdbench.running.runner import merge_config
    from ucdbench_plugins.methods.compgs.method import CompGS

    with pytest.raises(UcdbenchError, match=setting):
        merge_config(CompGS, "smoke", {setting: value}, "method 'compgs'")


def test_each_centroid_moves_to_the_mean_of_its_members_one_member_included():
    points = torch.tensor([[0.0], [2.0], [5.0], [9.0]])
    previous = torch.tensor([[1.0], [4.0], [7.0]])  # more centroids than dimensions; the last gets no member
    updated = centroid_means(points, torch.tensor([0, 0, 1, 1]), previous)
    assert updated.tolist() == [[1.0], [7.0], [7.0]]
    assert centroid_means(points.double(), torch.tensor([0, 0, 0, 2]), previous.double()).tolist() == [
        [7 / 3], [4.0], [9.0]]


def test_initial_centroids_are_distinct_points_the_run_s_generator_draws():
    points = torch.arange(12.0).reshape(6, 2)
    torch.manual_seed(1)
    first = initial_centroids(points, 6, torch.Generator().manual_seed(3))  # as many as there are points
    torch.manual_seed(2)  # the global generator must not matter
    again = initial_centroids(points, 6, torch.Generator().manual_seed(3))
    assert torch.equal(first, again) and sorted(first[:, 0].tolist()) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    with pytest.raises(ValueError, match=r"^cannot draw 7 centroids from 6 points; use a smaller codebook$"):
        initial_centroids(points, 7, torch.Generator().manual_seed(3))


def test_kmeans_works_in_the_points_precision_whatever_the_centroids():
    points = torch.tensor([[0.0], [1.0], [10.0], [11.0]], dtype=torch.float64)
    centroids, labels = kmeans(points, torch.tensor([[0.0], [10.0]], dtype=torch.float32), 3)
    assert centroids.dtype == torch.float64 and centroids.tolist() == [[0.5], [10.5]] and labels.tolist() == [0, 0, 1, 1]
