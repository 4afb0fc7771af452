"""Resize a square image to each model's input size over the same field of view: exact area
averaging when shrinking, bicubic interpolation when zooming; and resample a field to another
pixel scale with its flux kept."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix whose rows average the input pixels each output pixel covers."""
    edges_out = np.linspace(0.0, n_in, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], np.arange(n_in)[None, :])
    hi = np.minimum(edges_out[1:, None], np.arange(n_in)[None, :] + 1)
    overlap = np.clip(hi - lo, 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    n = image.shape[0]
    if image.shape[0] != image.shape[1]:
        raise ValueError("resize expects a square image")
    if size == n:
        return image.astype(np.float32)
    if size < n:
        w = area_weights(n, size)
        return (w @ image @ w.T).astype(np.float32)
    centres = (np.arange(size) + 0.5) * n / size - 0.5
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    return map_coordinates(image, [yy, xx], order=3, mode="nearest").astype(np.float32)


#: relative difference of pixel scales below which a field is not resampled (WCS rounding, distortion)
PIXEL_SCALE_TOLERANCE = 0.02


def reference_pixels(*, side_px: int, pixel_scale_arcsec: float, reference_arcsec: float) -> int:
    """The side in pixels of ``reference_arcsec`` of a field ``side_px`` pixels of
    ``pixel_scale_arcsec`` wide: ``side_px`` itself within PIXEL_SCALE_TOLERANCE."""
    ratio = pixel_scale_arcsec / reference_arcsec
    if abs(ratio - 1.0) <= PIXEL_SCALE_TOLERANCE:
        return side_px
    return max(int(round(side_px * ratio)), 2)


def resample_flux(image: np.ndarray, side_px: int) -> np.ndarray:
    """(side, side) float64: ``image`` (flux per pixel) over the same field on ``side_px`` pixels,
    its flux kept: each new pixel holds the flux of the area it covers."""
    n = image.shape[0]
    if side_px == n:
        return np.asarray(image, dtype=np.float64)
    return resize(np.asarray(image, dtype=np.float64), side_px).astype(np.float64) * (n / side_px) ** 2
