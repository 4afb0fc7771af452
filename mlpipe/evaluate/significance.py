"""Bootstrap confidence intervals of the mean L1 and the one-sided KS test between predictors."""

from __future__ import annotations

import numpy as np
from scipy import stats


def bootstrap_mean_ci(values: np.ndarray, n_resamples: int, seed: int, level: float = 0.95,
                      chunk: int = 2000) -> tuple[float, float]:
    """Percentile interval of the mean, resampling galaxies with replacement (in chunks, so that
    100,000 resamples of a large test set fit in memory)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, n_resamples, chunk):
        k = min(chunk, n_resamples - start)
        idx = rng.integers(0, len(values), size=(k, len(values)))
        means.append(values[idx].mean(axis=1))
    means = np.concatenate(means)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def ks_smaller(better: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """One-sided two-sample KS test that ``better``'s per-galaxy L1 tends to be smaller than
    ``reference``'s (its CDF lies above); returns (statistic, p-value)."""
    result = stats.ks_2samp(better, reference, alternative="greater")
    return float(result.statistic), float(result.pvalue)
