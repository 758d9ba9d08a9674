"""The scene task's headline metrics pinned to hand computations with the reference 3DGS code's
definitions (graphdeco-inria/gaussian-splatting, which CompGS evaluates with):

- ``utils/image_utils.py``: ``psnr = 20 · log10(1 / sqrt(mse))`` = −10 · log10(mse), the MSE
  over the whole image (``metrics.py`` passes one (1, 3, H, W) image at a time), images in [0, 1].
- ``utils/loss_utils.py``: SSIM with an 11 × 11 Gaussian window of σ = 1.5 (normalised to sum 1),
  convolved with zero padding of 5 (``F.conv2d(..., padding=window_size // 2)``), C1 = 0.01²,
  C2 = 0.03², the mean of the SSIM map over channels and pixels.

No reference implementation (scikit-image, torchmetrics) is installed, and neither pads as the
3DGS code does, so SSIM is checked against a closed form on a one-pixel image and against a
direct sum over the window written here in plain Python."""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch

from ucdbench_plugins.shared.gaussians.metrics import lpips_if_available, photometric_loss, psnr, ssim

WINDOW, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2


def test_psnr_is_minus_10_log10_of_the_mse_by_hand():
    target = torch.full((3, 4, 4), 0.5)
    assert psnr(target + 0.1, target) == pytest.approx(20.0, abs=1e-4)  # mse 0.01
    half = target.clone()
    half[:, :2] += 0.1  # half the pixels off by 0.1: mse 0.005
    assert psnr(half, target) == pytest.approx(10 * math.log10(200), abs=1e-4)  # 23.0103 dB
    assert psnr(half, target) == pytest.approx(20 * math.log10(1 / math.sqrt(0.005)), abs=1e-4)  # the 3DGS form
    assert psnr(target, target) == math.inf


def test_psnr_clamps_the_render_into_the_image_range_first():
    target = torch.full((3, 2, 2), 0.9)
    assert psnr(torch.full((3, 2, 2), 1.3), target) == pytest.approx(20.0, abs=1e-4)  # 1.3 → 1.0: mse 0.01
    assert psnr(torch.full((3, 2, 2), -0.4), torch.zeros(3, 2, 2)) == math.inf  # and −0.4 → 0: a perfect render


def _gaussian() -> list[float]:
    weights = [math.exp(-((k - WINDOW // 2) ** 2) / (2 * SIGMA**2)) for k in range(WINDOW)]
    return [w / sum(weights) for w in weights]


def test_ssim_of_a_one_pixel_image_is_the_closed_form():
    """With zero padding, a one-pixel image x = p is seen by the window's centre weight alone:
    μ = g0² p, E[x²] = g0² p², so σ² = g0²(1 − g0²) p² and σxy = g0²(1 − g0²) p q."""
    g0 = _gaussian()[WINDOW // 2]
    p, q = 0.5, 0.3
    mu_p, mu_q = g0**2 * p, g0**2 * q
    spread = g0**2 * (1 - g0**2)
    expected = ((2 * mu_p * mu_q + C1) * (2 * spread * p * q + C2)) / (
        (mu_p**2 + mu_q**2 + C1) * (spread * (p**2 + q**2) + C2))
    got = float(ssim(torch.tensor([[[p]]], dtype=torch.float64), torch.tensor([[[q]]], dtype=torch.float64)))
    assert got == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.7884, abs=1e-4)  # with C2 = 0.3² it would be 0.8681


def _ssim_by_the_window(x: list, y: list) -> float:
    """SSIM of (C, H, W) nested lists by a direct sum over each pixel's 11 × 11 window (pixels
    outside the image count as 0), then the mean of the map."""
    g = _gaussian()
    half = WINDOW // 2
    values = []
    for xc, yc in zip(x, y):
        height, width = len(xc), len(xc[0])
        for i in range(height):
            for j in range(width):
                sums = [0.0] * 5  # Σw·x, Σw·y, Σw·x², Σw·y², Σw·x·y
                for a in range(max(0, i - half), min(height, i + half + 1)):
                    for b in range(max(0, j - half), min(width, j + half + 1)):
                        w, u, v = g[a - i + half] * g[b - j + half], xc[a][b], yc[a][b]
                        for n, term in enumerate((u, v, u * u, v * v, u * v)):
                            sums[n] += w * term
                mx, my = sums[0], sums[1]
                vx, vy, cov = sums[2] - mx * mx, sums[3] - my * my, sums[4] - mx * my
                values.append(((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2)))
    return sum(values) / len(values)


def test_ssim_matches_a_direct_sum_over_the_window():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 6, 7, generator=generator, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(3, 6, 7, generator=generator, dtype=torch.float64)).clamp(0, 1)
    expected = _ssim_by_the_window(x.tolist(), y.tolist())
    assert float(ssim(x, y)) == pytest.approx(expected, rel=1e-10)
    assert float(ssim(x.float(), y.float())) == pytest.approx(expected, rel=1e-5)  # as the task calls it
    assert float(ssim(x[None], y[None])) == pytest.approx(expected, rel=1e-10)  # a batch of one alike
    assert 0 < expected < 1


def test_the_photometric_loss_weighs_l1_by_0_8_and_one_minus_ssim_by_0_2():
    """The reference 3DGS loss (1 − λ)·L1 + λ·(1 − SSIM), λ = 0.2: zero for a perfect render, and
    for a render off by 0.25 everywhere, 0.8 · 0.25 plus 0.2 of its SSIM's shortfall."""
    generator = torch.Generator().manual_seed(0)
    target = 0.5 * torch.rand(3, 6, 7, generator=generator, dtype=torch.float64)
    assert float(photometric_loss(target, target)) == pytest.approx(0.0, abs=1e-12)
    render = target + 0.25
    shortfall = 1 - float(ssim(render, target))
    assert 0 < shortfall < 1
    assert float(photometric_loss(render, target)) == pytest.approx(0.8 * 0.25 + 0.2 * shortfall, rel=1e-12)
    assert float(photometric_loss(target, render)) == pytest.approx(0.8 * 0.25 + 0.2 * shortfall, rel=1e-12)


class _FakeLPIPS:
    def __init__(self, net: str, verbose: bool) -> None:
        self.net, self.verbose, self.evaluated = net, verbose, False

    def eval(self) -> "_FakeLPIPS":
        self.evaluated = True
        return self


def test_lpips_is_omitted_with_the_reason_when_its_package_or_weights_are_missing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "lpips", None)  # as if not installed: importing it fails
    scorer, why = lpips_if_available()
    assert scorer is None and why.startswith("omitted: the lpips package is not installed")
    monkeypatch.setitem(sys.modules, "lpips", types.SimpleNamespace(LPIPS=_FakeLPIPS))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    scorer, why = lpips_if_available()
    assert scorer is None and why.startswith("omitted: no AlexNet weights") and str(tmp_path / "checkpoints") in why
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    scorer, why = lpips_if_available()
    assert why == "" and isinstance(scorer, _FakeLPIPS)
    assert (scorer.net, scorer.verbose, scorer.evaluated) == ("alex", False, True)
