"""Part-edit fidelity numbers against independent computations: scikit-image's SSIM map (`full=True`, Wang et al.'s
settings) and PSNR, and values worked out by hand on hand-made images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from partbench.metrics.edit_fidelity import PSNR_CAP, score_edit

skimage_metrics = pytest.importorskip("skimage.metrics")


def _images(seed: int = 0, h: int = 30, w: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    source = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    source[:, : w // 2] = (90, 140, 200)  # a flat half, where SSIM's constants matter
    edited = np.clip(source.astype(int) + rng.integers(-25, 26, source.shape), 0, 255).astype(np.uint8)
    part = np.zeros((h, w), bool)
    part[8:20, 12:30] = True
    edited[part] = (250, 10, 10)
    return source, edited, part


def test_ssim_bg_is_scikit_image_full_map_averaged_over_the_background():
    source, edited, part = _images()
    _, full = skimage_metrics.structural_similarity(
        source, edited, data_range=255, channel_axis=2, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, full=True)
    expected = 100 * full.mean(axis=2)[~part].mean()
    assert score_edit(source, edited, part).ssim_bg == pytest.approx(expected, abs=1e-9)


def test_ssim_of_two_flat_images_is_the_luminance_term_worked_by_hand():
    a = np.full((20, 20, 3), 100, np.uint8)
    b = np.full((20, 20, 3), 120, np.uint8)
    part = np.zeros((20, 20), bool)
    part[:5, :5] = True
    c1 = (0.01 * 255) ** 2  # no variance: SSIM = (2ab + C1) / (a² + b² + C1)
    assert score_edit(a, b, part).ssim_bg == pytest.approx(100 * (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_psnr_bg_with_known_background_noise_is_exact():
    source, _, part = _images(1)
    edited = source.copy()
    # Every background channel value moves by exactly 4 levels, never clipped: MSE = 16, PSNR = 20·log10(255 / 4).
    moved = np.where(source < 128, source.astype(int) + 4, source.astype(int) - 4).astype(np.uint8)
    edited[~part] = moved[~part]
    edited[part] = 0  # what happens inside the part does not count
    scores = score_edit(source, edited, part)
    assert scores.psnr_bg == pytest.approx(20 * math.log10(255 / 4), abs=1e-12)
    assert scores.mse_bg == 16
    assert scores.psnr_bg == pytest.approx(
        skimage_metrics.peak_signal_noise_ratio(source[~part], edited[~part], data_range=255))
    # Half the background pixels moved: MSE = 8.
    half = source.copy()
    rows = np.zeros(part.shape, bool)
    rows[::2] = True
    sel = ~part & rows
    half[sel] = moved[sel]
    expected_mse = 16 * sel.sum() / (~part).sum()
    assert score_edit(source, half, part).psnr_bg == pytest.approx(10 * math.log10(255**2 / expected_mse))


def test_identity_scores_the_cap_and_one_and_the_cap_is_never_exceeded():
    source, _, part = _images(2)
    scores = score_edit(source, source.copy(), part)
    assert (scores.psnr_bg, scores.ssim_bg, scores.mse_bg) == (PSNR_CAP, 100.0, 0.0)
    big = np.full((1024, 1024, 3), 128, np.uint8)
    near = big.copy()
    near[0, 0, 0] = 129  # one level on one value: 10·log10(255²·3·2²⁰) = 113 dB uncapped
    assert score_edit(big, near, np.zeros((1024, 1024), bool)).psnr_bg == PSNR_CAP


def test_masked_image_variant_and_part_error_by_hand():
    source = np.full((10, 10, 3), 50, np.uint8)
    edited = source.copy()
    part = np.zeros((10, 10), bool)
    part[:5] = True  # 50 part pixels, 50 background pixels
    edited[part] = 80  # the edit: 30 levels inside the part
    edited[9, 9] = (60, 50, 50)  # one background value off by 10
    expected = edited.copy()
    expected[part] = 90  # the intended edit is 10 levels further
    scores = score_edit(source, edited, part, expected)
    assert scores.mse_bg == pytest.approx(100 / 150)  # 10² over 50 pixels × 3 channels
    assert scores.psnr_masked == pytest.approx(10 * math.log10(255**2 / (100 / 300)))  # over the whole image
    assert scores.edit_error_fg == pytest.approx(10.0)
    assert scores.n_part == 50 and scores.n_background == 50
