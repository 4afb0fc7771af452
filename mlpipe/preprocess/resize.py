"""Resize a square image to each model's input size over the same field of view: exact area
averaging when shrinking, bicubic interpolation when zooming."""

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
