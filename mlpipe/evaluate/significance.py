"""Is one predictor better than another on the same test galaxies?

The paper compares predictors with a one-sided two-sample KS test of their per-galaxy L1
distributions. The two samples are the *same* galaxies, so the sharper questions are paired: the
bootstrap interval of the mean per-galaxy difference and a one-sided sign-flip permutation test
of it (Good 2005, *Permutation, Parametric and Bootstrap Tests of Hypotheses*, Sect. 3.7), beside
the Wilcoxon signed-rank test. The paired tests decide; the KS test is kept for the paper's number.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

Z_ONE_SIDED_95 = stats.norm.ppf(0.95)
Z_POWER_80 = stats.norm.ppf(0.80)


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


def sign_flip_p(differences: np.ndarray, n_flips: int, seed: int, chunk: int = 2000) -> float:
    """One-sided paired permutation test that the mean of ``differences`` (better - reference,
    per galaxy) is below 0: under the null each difference is as likely to have either sign.

    Returns (1 + #{flipped means <= observed}) / (1 + n_flips), never 0.
    """
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    observed = d.mean()
    hits = 0
    for start in range(0, n_flips, chunk):
        k = min(chunk, n_flips - start)
        signs = rng.integers(0, 2, size=(k, d.size), dtype=np.int8) * 2 - 1
        hits += int(np.count_nonzero((signs * d).mean(axis=1) <= observed + 1e-12 * abs(observed)))
    return (1 + hits) / (1 + n_flips)


def wilcoxon_p(differences: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value that the differences tend to be negative."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0 or not np.any(d != 0):
        return float("nan") if d.size == 0 else 1.0
    return float(stats.wilcoxon(d, alternative="less", zero_method="wilcox").pvalue)


def galaxies_needed(differences: np.ndarray, z_alpha: float = Z_ONE_SIDED_95,
                    z_power: float = Z_POWER_80) -> float:
    """Test galaxies a one-sided paired test needs to find a mean difference this size with this
    scatter (normal approximation): n = ((z_alpha + z_power) sd / mean)^2; inf for mean >= 0."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2 or d.mean() >= 0:
        return float("inf")
    return float(((z_alpha + z_power) * d.std(ddof=1) / d.mean()) ** 2)


def detectable_difference(differences: np.ndarray, z_alpha: float = Z_ONE_SIDED_95,
                          z_power: float = Z_POWER_80) -> float:
    """The smallest mean L1 difference these many galaxies detect at 95 % with 80 % power, given
    the scatter of the per-galaxy differences: (z_alpha + z_power) sd / sqrt(n)."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return float("nan")
    return float((z_alpha + z_power) * d.std(ddof=1) / np.sqrt(d.size))


def paired_comparison(better: np.ndarray, reference: np.ndarray, *, n_resamples: int, seed: int,
                      level: float = 0.95) -> dict[str, float]:
    """Every paired and unpaired statistic of ``better`` against ``reference`` (per-galaxy L1
    terms of the same galaxies, in the same order)."""
    a, b = np.asarray(better, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same galaxies: {a.shape} vs {b.shape}")
    d = a - b
    lo, hi = bootstrap_mean_ci(d, n_resamples, seed, level) if d.size else (np.nan, np.nan)
    ks_stat, ks_p = ks_smaller(a, b) if d.size else (np.nan, np.nan)
    return {"n": int(d.size), "l1_better": float(a.mean()) if d.size else np.nan,
            "l1_reference": float(b.mean()) if d.size else np.nan,
            "mean_difference": float(d.mean()) if d.size else np.nan, "difference_ci_low": lo,
            "difference_ci_high": hi, "p_sign_flip": sign_flip_p(d, n_resamples, seed + 1),
            "p_wilcoxon": wilcoxon_p(d), "p_sign_flip_reverse": sign_flip_p(-d, n_resamples, seed + 2),
            "detectable_difference": detectable_difference(d), "galaxies_needed": galaxies_needed(d),
            "ks_statistic": ks_stat, "p_ks": ks_p}


def verdict(row, alpha: float) -> str:
    """'beats', 'is worse than' or 'undecided', from the one-sided paired sign-flip tests."""
    if row["p_sign_flip"] < alpha:
        return "beats"
    if row["p_sign_flip_reverse"] < alpha:
        return "is worse than"
    return "undecided"
