"""Per-sample scores of a part edit: is everything outside the part kept (PSNR, SSIM on the background), and, where
the intended result is known (`demo-edit`), how far the part is from it. Definitions: docs/partedit.md.

Images are H×W×3 uint8 (0–255); `part` is H×W bool (True = the part to edit; the background is its complement).

- `psnr_bg`: MSE over the background pixels, all three channels, in 0–255 units; PSNR = 10·log10(255² / MSE), capped
  at `PSNR_CAP` = 100 dB (an exact copy, MSE = 0, scores the cap; the cap also keeps a near copy from scoring above
  an exact one: one level off on one channel of a 1024² background is already 113 dB).
- `ssim_bg`: Wang et al.'s SSIM map (Gaussian weights σ = 1.5 truncated at 3.5σ, i.e. an 11×11 window, population
  covariance, K1 = 0.01, K2 = 0.03, data range 255, reflected borders) per channel on the *full* images, averaged over
  the channels, then over the background pixels; ×100. The full images are filtered so that the window sees the
  real neighbourhood at the part's border, as scikit-image's `structural_similarity(full=True)` does.
- `psnr_masked` / `ssim_masked`: the PIE-Bench-style alternative: the part is set to 0 in both images and PSNR / mean
  SSIM map (×100) are taken over the *whole* image, so the zeroed part counts as perfectly kept. Reported beside the
  headline numbers as named variants, never instead of them.
- `edit_error_fg`: mean absolute difference to the expected edit over the part's pixels, all three channels, in
  0–255 units (lower is better).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

DATA_RANGE = 255.0
PSNR_CAP = 100.0
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # radius int(3.5·1.5 + 0.5) = 5: an 11×11 window, as in Wang et al. 2004
SSIM_K1, SSIM_K2 = 0.01, 0.03


@dataclass(frozen=True)
class EditScores:
    """One sample's numbers; None where undefined (no background, or no expected edit)."""

    n_part: int
    n_background: int
    mse_bg: float | None
    psnr_bg: float | None
    ssim_bg: float | None
    psnr_masked: float | None
    ssim_masked: float | None
    edit_error_fg: float | None = None

    def to_json(self) -> dict[str, float | int | None]:
        return asdict(self)


def psnr_from_mse(mse: float) -> float:
    """10·log10(255² / MSE) in dB, `PSNR_CAP` when MSE is 0 (and never above it)."""
    if mse <= 0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(DATA_RANGE ** 2 / mse))


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) - b.astype(np.float64)


def background_mse(source: np.ndarray, edited: np.ndarray, part: np.ndarray) -> float | None:
    """Mean squared difference over the background's pixels and channels; None when there is no background."""
    background = ~part
    if not background.any():
        return None
    return float(np.mean(_diff(source, edited)[background] ** 2))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """H×W SSIM map of two H×W×C images, the mean over channels of each channel's map (see the module docstring)."""
    from scipy.ndimage import gaussian_filter

    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    maps = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)

        def blur(img: np.ndarray) -> np.ndarray:
            return gaussian_filter(img, sigma=SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

        mx, my = blur(x), blur(y)
        vx, vy, vxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return np.mean(maps, axis=0)


def background_ssim(source: np.ndarray, edited: np.ndarray, part: np.ndarray) -> float | None:
    """The SSIM map of the full images averaged over the background pixels, ×100; None without background."""
    background = ~part
    if not background.any():
        return None
    return 100.0 * float(ssim_map(source, edited)[background].mean())


def masked_image_scores(source: np.ndarray, edited: np.ndarray, part: np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM×100) of the whole images with the part set to 0 in both (the PIE-Bench-style variant)."""
    keep = (~part)[..., None]
    a, b = source * keep, edited * keep
    return psnr_from_mse(float(np.mean(_diff(a, b) ** 2))), 100.0 * float(ssim_map(a, b).mean())


def part_error(edited: np.ndarray, expected: np.ndarray, part: np.ndarray) -> float | None:
    """Mean absolute difference to the expected edit over the part's pixels and channels (0–255 units)."""
    if not part.any():
        return None
    return float(np.mean(np.abs(_diff(edited, expected)[part])))


def score_edit(source: np.ndarray, edited: np.ndarray, part: np.ndarray,
               expected: np.ndarray | None = None) -> EditScores:
    """Every per-sample number of one edit. Shapes must agree (the task kind checks them and names the file)."""
    if source.shape != edited.shape or source.shape[:2] != part.shape:
        raise ValueError(f"shapes differ: source {source.shape}, edited {edited.shape}, part mask {part.shape}")
    mse = background_mse(source, edited, part)
    has_background = mse is not None
    masked = masked_image_scores(source, edited, part) if has_background else (None, None)
    return EditScores(
        n_part=int(part.sum()), n_background=int((~part).sum()), mse_bg=mse,
        psnr_bg=psnr_from_mse(mse) if has_background else None,
        ssim_bg=background_ssim(source, edited, part), psnr_masked=masked[0], ssim_masked=masked[1],
        edit_error_fg=None if expected is None else part_error(edited, expected, part),
    )
