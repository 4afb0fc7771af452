"""Mock GZ2 votes: conditional fractions per question drawn from each galaxy's true morphology.

Type, bulge fraction, inclination (axis ratio), bar, arms and an irregular's burst (its knots) set
the answers, the same truth the renderer draws. Visible features fade with redshift and with
apparent size (``features.fade_redshift``), so distant disks are voted smooth more often, as in the real GZ2 (Hart et al. 2016).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd


def _soft_class(index: np.ndarray, n_classes: int, peak: float) -> np.ndarray:
    """One row per galaxy: ``peak`` on the true class, the rest shared by its neighbours."""
    p = np.full((index.size, n_classes), 0.02)
    rows = np.arange(index.size)
    p[rows, index] = peak
    for step in (-1, 1):
        nb = np.clip(index + step, 0, n_classes - 1)
        p[rows, nb] += (1 - peak) / 2
    return p / p.sum(axis=1, keepdims=True)


def expected_answers(pop: pd.DataFrame, cfg: Mapping[str, Any]) -> list[np.ndarray]:
    """Per question, the expected conditional answer probabilities (n_galaxies x n_answers)."""
    n = len(pop)
    kind = pop["type"].to_numpy()
    ell, disk, irr = kind == "elliptical", kind == "disk", kind == "irregular"
    bt = pop["bulge_fraction"].to_numpy()
    incl = pop["inclination_deg"].to_numpy()
    edge_on = disk & (incl > cfg["edge_on_inclination_deg"])
    visible = np.exp(-pop["z"].to_numpy() / cfg["fade_redshift"]) * (
        pop["re_arcsec"].to_numpy() / (pop["re_arcsec"].to_numpy() + cfg["fade_size_arcsec"]))
    visible = np.clip(visible * 1.6, 0, 1)

    p_feat_true = np.select([ell, disk, irr], [np.full(n, 0.08), 0.95 - 0.6 * bt, np.full(n, 0.85)])
    p_feat = p_feat_true * visible + 0.05
    q1 = np.stack([1 - p_feat - 0.01, p_feat, np.full(n, 0.01)], axis=1)
    p_edge = np.where(disk, 1 / (1 + np.exp(-(incl - cfg["edge_on_inclination_deg"]) / 3)), 0.08)
    q2 = np.stack([p_edge, 1 - p_edge], axis=1)
    p_bar = np.where(pop["has_bar"].to_numpy(), 0.75, 0.1)
    q3 = np.stack([p_bar, 1 - p_bar], axis=1)
    p_spiral = np.where(disk & ~edge_on, 0.9 * visible + 0.05, 0.15)
    q4 = np.stack([p_spiral, 1 - p_spiral], axis=1)
    q5 = _soft_class(np.digitize(bt, [0.05, 0.2, 0.45]), 4, 0.6)
    # the brighter an irregular's burst, the more star-forming knots voters see as odd
    burst = pop["burst_fraction"].to_numpy() if "burst_fraction" in pop else np.full(n, 0.5)
    p_odd = np.select([irr, edge_on], [0.55 + 0.4 * burst, np.full(n, 0.45)], 0.1)
    q6 = np.stack([p_odd, 1 - p_odd], axis=1)
    q7 = _soft_class(2 - np.digitize(pop["axis_ratio"].to_numpy(), [0.5, 0.85]), 3, 0.7)
    q8 = np.where(irr[:, None], [0.05, 0.03, 0.25, 0.4, 0.05, 0.2, 0.02],
                  np.where(edge_on[:, None], [0.03, 0.03, 0.05, 0.04, 0.2, 0.02, 0.63],
                           [0.3, 0.2, 0.1, 0.05, 0.3, 0.03, 0.02]))
    q9 = np.where((bt > 0.15)[:, None], [0.75, 0.15, 0.1], [0.15, 0.1, 0.75])
    q10 = _soft_class(np.digitize(-bt, [-0.3, -0.1]), 3, 0.6)
    arms = np.clip(pop["n_arms"].to_numpy() - 1, 0, 4)
    q11 = 0.7 * _soft_class(arms, 5, 0.7)
    q11 = np.concatenate([q11, np.full((n, 1), 0.3)], axis=1)
    return [q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11]


def draw_vote_fractions(pop: pd.DataFrame, cfg: Mapping[str, Any],
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Conditional weighted fractions (n x 37) and total vote counts, with Dirichlet vote noise."""
    votes = rng.integers(cfg["votes_range"][0], cfg["votes_range"][1] + 1, len(pop))
    blocks = []
    for expected in expected_answers(pop, cfg):
        expected = np.clip(expected, 1e-3, None)
        alpha = expected / expected.sum(axis=1, keepdims=True) * votes[:, None] * 0.5 + 0.05
        g = rng.gamma(alpha)
        blocks.append(g / g.sum(axis=1, keepdims=True))
    return np.concatenate(blocks, axis=1), votes
