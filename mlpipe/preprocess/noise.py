"""The pixel-to-pixel noise of an image, blind to the galaxy's and the sky's smooth gradients."""

from __future__ import annotations

import numpy as np


def pixel_noise(data: np.ndarray, mask: np.ndarray, *, min_pairs: int = 32) -> float:
    """The pixel-to-pixel noise of ``data`` within ``mask`` (image units): 1.4826 times the
    median absolute deviation of horizontal neighbour differences, over sqrt 2. Blind to smooth
    gradients, which the scatter of the pixels themselves is not; 0 with fewer than ``min_pairs``
    pairs."""
    pair = mask[:, 1:] & mask[:, :-1]
    d = (data[:, 1:] - data[:, :-1])[pair]
    if d.size < min_pairs:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))
