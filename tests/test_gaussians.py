"""The 3DGS data model, rasteriser and scene task: cases with known answers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ucdbench_plugins.shared.gaussians.camera import Camera, look_at
from ucdbench_plugins.shared.gaussians.model import GaussianModel, random_gaussians
from ucdbench_plugins.shared.gaussians.ply import read_ply, write_ply
from ucdbench_plugins.shared.gaussians.render import LOW_PASS, quat_to_rotmat, rasterize_torch, render
from ucdbench_plugins.shared.gaussians.sh import num_sh_bases, sh_basis, sh_to_rgb

FOCAL, SIZE = 40.0, 32
IDENTITY_QUAT = torch.tensor([[1.0, 0.0, 0.0, 0.0]])


def front_camera(size: int = SIZE) -> Camera:
    """At the origin looking down +z."""
    return Camera(torch.eye(4), FOCAL, FOCAL, size / 2, size / 2, size, size)


def splat(means, scales, opacities, colors, background=(0.0, 0.0, 0.0)) -> torch.Tensor:
    n = len(means)
    return rasterize_torch(
        torch.tensor(means, dtype=torch.float32), IDENTITY_QUAT.repeat(n, 1),
        torch.tensor(scales, dtype=torch.float32), torch.tensor(opacities, dtype=torch.float32),
        torch.tensor(colors, dtype=torch.float32), front_camera(), torch.tensor(background),
    )


def test_one_gaussian_has_the_analytic_footprint():
    scale, depth, opacity = 0.03, 2.0, 0.6
    # On the optical axis the projected footprint is isotropic: σ² = (f·s/z)² + low-pass.
    image = splat([[0.0, 0.0, depth]], [[scale] * 3], [opacity], [[1.0, 0.5, 0.0]])
    variance = (FOCAL * scale / depth) ** 2 + LOW_PASS
    centre = (SIZE / 2, SIZE / 2)
    ys, xs = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")
    squared = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2
    expected = opacity * torch.exp(-0.5 * squared / variance)
    inside = squared <= (3 * math.sqrt(variance)) ** 2
    torch.testing.assert_close(image[0][inside], expected[inside], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(image[1], 0.5 * image[0])
    assert float(image[2].abs().max()) == 0.0
    # All but the tails beyond 3σ of the analytic mass opacity·2πσ² lands on the image.
    assert 0.97 < float(image[0].sum()) / (opacity * 2 * math.pi * variance) <= 1.0


def test_compositing_is_front_to_back_whatever_the_input_order():
    red_front = ([0.0, 0.0, 2.0], [0.2] * 3, 0.5, [1.0, 0.0, 0.0])
    blue_back = ([0.0, 0.0, 4.0], [0.4] * 3, 0.7, [0.0, 0.0, 1.0])
    background = (0.0, 1.0, 0.0)
    images = [
        splat(*[list(v) for v in zip(*order)], background=background)
        for order in ((red_front, blue_back), (blue_back, red_front))
    ]
    torch.testing.assert_close(images[0], images[1])
    # At the centre both Gaussians are at their peak: α = opacity (up to the pixel offset).
    pixel = images[0][:, SIZE // 2, SIZE // 2]
    a1 = 0.5 * math.exp(-0.5 * 0.5 / ((FOCAL * 0.2 / 2) ** 2 + LOW_PASS))
    a2 = 0.7 * math.exp(-0.5 * 0.5 / ((FOCAL * 0.4 / 4) ** 2 + LOW_PASS))
    expected = torch.tensor([a1, (1 - a1) * (1 - a2), (1 - a1) * a2])
    torch.testing.assert_close(pixel, expected, atol=1e-5, rtol=1e-5)


def test_opaque_front_gaussians_hide_what_is_behind_them():
    front = dict(means=[[0.0, 0.0, 2.0], [0.0, 0.0, 2.1]], scales=[[0.5] * 3] * 2, opacities=[1.0, 1.0],
                 colors=[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    without = splat(**front, background=(0.0, 0.0, 1.0))
    with_back = splat(
        means=front["means"] + [[0.0, 0.0, 3.0]], scales=front["scales"] + [[0.5] * 3],
        opacities=front["opacities"] + [1.0], colors=front["colors"] + [[1.0, 0.0, 0.0]], background=(0.0, 0.0, 1.0),
    )
    # Two α = 0.999 layers leave T = 1e-6 < 1e-4: compositing stops, the red one never counts
    # and neither does the background.
    centre = slice(SIZE // 2 - 2, SIZE // 2 + 2)
    assert torch.equal(with_back[:, centre, centre], without[:, centre, centre])
    torch.testing.assert_close(without[:, centre, centre], torch.full_like(without[:, centre, centre], 0.999), atol=2e-3, rtol=0)


def test_nothing_behind_the_camera_is_drawn():
    image = splat([[0.0, 0.0, -2.0]], [[0.3] * 3], [0.9], [[1.0, 1.0, 1.0]], background=(0.25, 0.25, 0.25))
    assert torch.equal(image, torch.full_like(image, 0.25))


def test_rasteriser_gradients_match_finite_differences():
    generator = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.05, 0.02, 2.0], [-0.03, 0.0, 2.5], [0.0, -0.04, 3.0]], dtype=torch.float64, requires_grad=True)
    quats = torch.nn.functional.normalize(torch.randn(3, 4, generator=generator, dtype=torch.float64), dim=1)
    scales = torch.tensor([[0.05, 0.08, 0.03], [0.1, 0.06, 0.05], [0.12, 0.1, 0.08]], dtype=torch.float64, requires_grad=True)
    opacities = torch.tensor([0.5, 0.6, 0.8], dtype=torch.float64, requires_grad=True)
    colors = torch.rand(3, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    camera = Camera(torch.eye(4, dtype=torch.float64), 20.0, 20.0, 6.0, 6.0, 12, 12)

    def rendered(m, s, o, c):
        return rasterize_torch(m, quats, s, o, c, camera, torch.zeros(3, dtype=torch.float64)).sum(0)[4:8, 4:8]

    assert torch.autograd.gradcheck(rendered, (means, scales, opacities, colors), eps=1e-7, atol=1e-5)


def test_sh_basis_is_orthonormal_over_the_sphere():
    generator = torch.Generator().manual_seed(0)
    dirs = torch.nn.functional.normalize(torch.randn(400_000, 3, generator=generator, dtype=torch.float64), dim=1)
    basis = sh_basis(3, dirs)
    gram = 4 * math.pi * basis.T @ basis / len(dirs)
    torch.testing.assert_close(gram, torch.eye(16, dtype=torch.float64), atol=0.03, rtol=0)


def test_degree_zero_colour_is_view_independent():
    coeffs = torch.randn(5, num_sh_bases(3), 3)
    a = sh_to_rgb(0, coeffs, torch.randn(5, 3))
    b = sh_to_rgb(0, coeffs, torch.randn(5, 3))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, (coeffs[:, 0] * 0.28209479177387814 + 0.5).clamp_min(0))


def test_quaternion_to_rotation_is_orthonormal():
    quats = torch.nn.functional.normalize(torch.randn(10, 4), dim=1)
    rot = quat_to_rotmat(quats)
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(10, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(10), atol=1e-5, rtol=0)


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_ply_round_trip_is_bit_exact_in_the_reference_layout(tmp_path, degree):
    from plyfile import PlyData

    state = random_gaussians(50, degree, torch.Generator().manual_seed(degree))
    path = tmp_path / "point_cloud.ply"
    write_ply(path, state)
    loaded = read_ply(path)
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor), name
    vertex = PlyData.read(str(path))["vertex"]
    if degree:
        rest = num_sh_bases(degree) - 1
        # channel-major: f_rest_0 is red of the first non-DC coefficient, f_rest_<rest> green.
        assert torch.equal(torch.tensor(vertex["f_rest_0"]), state["sh_rest"][:, 0, 0])
        assert torch.equal(torch.tensor(vertex[f"f_rest_{rest}"]), state["sh_rest"][:, 0, 1])


def test_render_interface_evaluates_sh_along_the_view_direction():
    state = random_gaussians(200, 3, torch.Generator().manual_seed(1))
    state["means"][:, 2] += 4.0
    model = GaussianModel.from_state(state, backend="torch")
    camera = front_camera()
    image = model(camera)
    activated = model.activated()
    colors = sh_to_rgb(3, activated["sh"], activated["means"] - camera.center)
    direct = rasterize_torch(activated["means"], activated["quats"], activated["scales"], activated["opacities"],
                             colors, camera, torch.zeros(3))
    torch.testing.assert_close(image, direct)
    assert image.shape == (3, SIZE, SIZE) and float(image.detach().max()) > 0


@pytest.mark.ucdbench_cuda
def test_gsplat_and_torch_back_ends_agree():
    pytest.importorskip("gsplat")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from ucdbench_plugins.shared.gaussians.synthetic import ground_truth_gaussians, synthetic_cameras

    generator = torch.Generator().manual_seed(0)
    model = GaussianModel.from_state(ground_truth_gaussians("ant", 4000, 3, generator)).cuda()
    for camera in synthetic_cameras(3, 64, generator):
        gathered = model.activated()
        a = render(gathered, camera, model.background, 3, "torch")
        b = render(gathered, camera, model.background, 3, "gsplat")
        # Same conventions; tiles let gsplat draw slightly beyond 3σ, hence the tolerance.
        assert float((a - b).abs().mean()) < 5e-3
        assert float((a - b).abs().max()) < 0.1


def test_nerf_synthetic_and_colmap_cameras_reproduce_their_images(tmp_path):
    from PIL import Image

    from ucdbench_plugins.shared.gaussians.real import load_real_scene

    state = random_gaussians(400, 1, torch.Generator().manual_seed(2))
    model = GaussianModel.from_state(state, backend="torch")
    eyes = [torch.tensor([3.0, 0.5, 0.8]), torch.tensor([-0.5, 3.0, -1.0])]
    viewmats = [look_at(eye, torch.zeros(3), torch.tensor([0.0, 0.0, 1.0])) for eye in eyes]
    width, fx = 24, 20.0
    images = []
    (tmp_path / "nerf" / "train").mkdir(parents=True)
    (tmp_path / "colmap" / "images").mkdir(parents=True)
    (tmp_path / "colmap" / "sparse" / "0").mkdir(parents=True)
    frames, colmap_lines = [], []
    for i, viewmat in enumerate(viewmats):
        with torch.no_grad():
            image = model(Camera(viewmat, fx, fx, width / 2, width / 2, width, width)).clamp(0, 1)
        images.append(image)
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        Image.fromarray(pixels).save(tmp_path / "nerf" / "train" / f"r_{i}.png")
        Image.fromarray(pixels).save(tmp_path / "colmap" / "images" / f"im{i}.png")
        c2w = torch.linalg.inv(viewmat)
        c2w[:3, 1:3] *= -1
        frames.append({"file_path": f"./train/r_{i}", "transform_matrix": c2w.tolist()})
        quat = _rotmat_to_quat(viewmat[:3, :3])
        colmap_lines += [" ".join(str(v) for v in [i + 1, *quat.tolist(), *viewmat[:3, 3].tolist(), 1, f"im{i}.png"]), ""]
    meta = {"camera_angle_x": 2 * math.atan(width / (2 * fx)), "frames": frames}
    for split in ("train", "test"):
        (tmp_path / "nerf" / f"transforms_{split}.json").write_text(json.dumps(meta))
    (tmp_path / "colmap" / "sparse" / "0" / "cameras.txt").write_text(f"1 PINHOLE {width} {width} {fx} {fx} {width / 2} {width / 2}\n")
    (tmp_path / "colmap" / "sparse" / "0" / "images.txt").write_text("# comment\n" + "\n".join(colmap_lines))

    nerf_train, _ = load_real_scene(tmp_path / "nerf", width, white_background=False)
    colmap_train, colmap_test = load_real_scene(tmp_path / "colmap", width, white_background=False)
    colmap_views = colmap_test + colmap_train  # image 0 is held out (every 8th), image 1 trains
    for views in (nerf_train, colmap_views):
        for (camera, loaded), original in zip(views, images):
            with torch.no_grad():
                rerendered = model(camera).clamp(0, 1)
            assert float((rerendered - original).abs().max()) < 1e-4
            assert float((loaded - original).abs().max()) <= 0.5 / 255 + 1e-6


def _rotmat_to_quat(rot: torch.Tensor) -> torch.Tensor:
    w = math.sqrt(max(0.0, 1 + float(rot.trace()))) / 2
    return torch.tensor([w, (rot[2, 1] - rot[1, 2]) / (4 * w), (rot[0, 2] - rot[2, 0]) / (4 * w), (rot[1, 0] - rot[0, 1]) / (4 * w)])


def test_scene_task_trains_a_base_model_that_beats_its_initialisation():
    from ucdbench_plugins.tasks.scene.task import SceneTask

    task = SceneTask("smoke", 0, SceneTask.defaults("smoke"))
    task.prepare()
    cpu = torch.device("cpu")
    initial = task.evaluate(task.base_model(pretrained=False), cpu)
    trained = task.evaluate(task.base_model(), cpu)
    assert trained["psnr"] > initial["psnr"] + 1.0
    assert 0 < trained["ssim"] <= 1
    assert task.forward(task.base_model(), task.sample_inputs(2, cpu)).shape == (2, 3, 24, 24)
    # The second call is served from the cache, bit for bit.
    assert torch.equal(task.base_model().means, task.base_model().means)


def test_scene_task_takes_a_real_scene_folder_and_a_trained_ply(tmp_path):
    """The real-scene path end to end: a NeRF-synthetic folder and a 3DGS PLY given by path."""
    from PIL import Image

    from ucdbench.contracts.interfaces import FitContext, UcdbenchError
    from ucdbench_plugins.methods.compgs.method import KMeansPost
    from ucdbench_plugins.tasks.scene.task import SceneTask

    state = random_gaussians(400, 3, torch.Generator().manual_seed(3))
    write_ply(tmp_path / "point_cloud.ply", state)
    model = GaussianModel.from_state(state, backend="torch")
    width, fx = 24, 20.0
    for split, eyes in {"train": [(3.0, 0.5, 0.8), (-0.5, 3.0, -1.0), (0.2, -3.0, 1.0)],
                        "test": [(-3.0, -0.4, 0.5)]}.items():
        (tmp_path / split).mkdir()
        frames = []
        for i, eye in enumerate(eyes):
            viewmat = look_at(torch.tensor(eye), torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
            with torch.no_grad():
                image = model(Camera(viewmat, fx, fx, width / 2, width / 2, width, width)).clamp(0, 1)
            pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
            Image.fromarray(pixels).save(tmp_path / split / f"r_{i}.png")
            c2w = torch.linalg.inv(viewmat)
            c2w[:3, 1:3] *= -1
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": c2w.tolist()})
        meta = {"camera_angle_x": 2 * math.atan(width / (2 * fx)), "frames": frames}
        (tmp_path / f"transforms_{split}.json").write_text(json.dumps(meta))

    config = {**SceneTask.defaults("smoke"), "data_path": str(tmp_path), "ply_path": str(tmp_path / "point_cloud.ply"),
              "dataset": "nerf-synthetic"}
    with pytest.raises(UcdbenchError, match="task.dataset=mipnerf360"):  # a real scene names its benchmark
        SceneTask("smoke", 0, {**config, "dataset": "synthetic"}).prepare()
    task = SceneTask("smoke", 0, config)
    task.prepare()
    assert (len(task.train_views), len(task.test_views)) == (3, 1)
    base = task.base_model()
    for name, tensor in state.items():
        assert torch.equal(getattr(base, name).detach(), tensor), name
    scores = task.evaluate(base, torch.device("cpu"))
    assert scores["psnr"] > 45  # only the 8-bit PNGs separate the views from the PLY's renders
    assert "lpips" in scores or scores["lpips_omitted"].startswith("omitted")
    ctx = FitContext(torch.device("cpu"), 0, "smoke", lambda iterable, **_: iterable)
    outcome = KMeansPost().fit(task, KMeansPost.defaults("smoke"), ctx)
    assert 20 < task.evaluate(outcome.model, torch.device("cpu"))["psnr"] < scores["psnr"]


def test_scene_run_skips_flops_with_its_reason_and_keeps_latency(tmp_path):
    """Through the runner: the rasteriser's FLOPs are not countable, so the record says why in
    ``skipped`` instead of a near-zero figure; rendering time (latency) is measured."""
    from ucdbench.discovery.registry import load_registry
    from ucdbench.running.runner import RunSpec, execute, resolve
    from ucdbench.running.store import RunStore

    run = resolve(load_registry(), RunSpec("gs-uncompressed", "scene", "smoke", 0, "cpu",
                                           {"eval.latency.min_iters": 2, "eval.latency.min_seconds": 0.0,
                                            "eval.latency.batch_size": 2}))
    record = execute(run, "cpu", RunStore(tmp_path))
    assert record["status"] == "ok", record.get("traceback")
    assert "flops" not in record["evaluations"]
    assert "rasteris" in record["skipped"]["flops"]
    assert record["evaluations"]["latency"]["p50_ms"] > 0


def test_the_papers_benchmark_figures_stand_beside_that_benchmarks_scenes_only():
    """Table 1's figures are averages over a benchmark's real scenes, at the official file: each stands
    beside a run on its own benchmark (``task.dataset``) at the paper preset, never beside a
    synthetic scene, another benchmark's, or the CPU presets' smaller codebooks."""
    from ucdbench_plugins.methods.compgs.method import CompGS, KMeansPost, Uncompressed
    from ucdbench_plugins.tasks.scene.task import SceneTask

    synthetic = SceneTask.defaults("paper")
    real = {**synthetic, "data_path": "garden", "ply_path": "garden/point_cloud.ply"}
    for method in (CompGS, KMeansPost, Uncompressed):
        paper = method.defaults("paper")
        for figure in method.reported:
            benchmark = figure.where["task.dataset"]
            other = next(d for d in ("mipnerf360", "tanks-temples") if d != benchmark)
            assert figure.applies_to("scene", paper, {**real, "dataset": benchmark}), figure.setting
            assert not figure.applies_to("scene", paper, {**real, "dataset": other})
            assert not figure.applies_to("scene", paper, synthetic)
        assert method is Uncompressed or not any(  # the CPU presets' codebooks are not the paper's file
            f.applies_to("scene", method.defaults("small"), {**real, "dataset": f.where["task.dataset"]})
            for f in method.reported)


@pytest.mark.parametrize("setting, value", [("mesh", "teapot"), ("backend", "cuda"), ("sh_degree", 4), ("dataset", "llff"),
                                            ("image_size", 0), ("sh_increase_every", -1)])
def test_scene_settings_it_cannot_take_are_usage_errors(setting, value):
    from ucdbench.contracts.interfaces import UcdbenchError
    from ucdbench.running.runner import merge_config
    from ucdbench_plugins.tasks.scene.task import SceneTask

    with pytest.raises(UcdbenchError, match=setting):
        merge_config(SceneTask, "smoke", {setting: value}, "task 'scene'")
