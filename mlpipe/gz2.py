"""The Galaxy Zoo 2 decision tree.

One definition serves both the training targets (catalogue vote fractions turned into
unconditional probabilities) and the network's normalisation layer, so that targets and
outputs obey the same rule. Answer order is the Kaggle Galaxy Challenge order
(Class1.1 ... Class11.6); GZ2 catalogue column names keep their published numbering quirks
(``a38_dust_lane`` in question 8, ``a28`` reused, ``a35`` absent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Question:
    """One GZ2 question: its answers and the answer (index into the 37) that leads to it."""

    number: int
    slug: str
    answers: tuple[str, ...]
    catalogue_answers: tuple[str, ...]
    parent: int | None  # global answer index; None means asked of every galaxy


def _build_tree() -> tuple[Question, ...]:
    spec = [
        (1, "smooth_or_features", ["smooth", "features_or_disk", "star_or_artifact"],
         ["a01_smooth", "a02_features_or_disk", "a03_star_or_artifact"], None),
        (2, "edgeon", ["yes", "no"], ["a04_yes", "a05_no"], ("Q1", 1)),
        (3, "bar", ["bar", "no_bar"], ["a06_bar", "a07_no_bar"], ("Q2", 1)),
        (4, "spiral", ["spiral", "no_spiral"], ["a08_spiral", "a09_no_spiral"], ("Q2", 1)),
        (5, "bulge_prominence", ["no_bulge", "just_noticeable", "obvious", "dominant"],
         ["a10_no_bulge", "a11_just_noticeable", "a12_obvious", "a13_dominant"], ("Q2", 1)),
        (6, "odd", ["yes", "no"], ["a14_yes", "a15_no"], None),
        (7, "rounded", ["completely_round", "in_between", "cigar_shaped"],
         ["a16_completely_round", "a17_in_between", "a18_cigar_shaped"], ("Q1", 0)),
        (8, "odd_feature", ["ring", "lens_or_arc", "disturbed", "irregular", "other", "merger",
                            "dust_lane"],
         ["a19_ring", "a20_lens_or_arc", "a21_disturbed", "a22_irregular", "a23_other",
          "a24_merger", "a38_dust_lane"], ("Q6", 0)),
        (9, "bulge_shape", ["rounded", "boxy", "no_bulge"],
         ["a25_rounded", "a26_boxy", "a27_no_bulge"], ("Q2", 0)),
        (10, "arms_winding", ["tight", "medium", "loose"],
         ["a28_tight", "a29_medium", "a30_loose"], ("Q4", 0)),
        (11, "arms_number", ["1", "2", "3", "4", "more_than_4", "cant_tell"],
         ["a31_1", "a32_2", "a33_3", "a34_4", "a36_more_than_4", "a37_cant_tell"], ("Q4", 0)),
    ]
    starts: dict[str, int] = {}
    offset = 0
    for number, _, answers, _, _ in spec:
        starts[f"Q{number}"] = offset
        offset += len(answers)
    questions = []
    for number, slug, answers, catalogue, parent in spec:
        parent_index = None if parent is None else starts[parent[0]] + parent[1]
        questions.append(Question(number, slug, tuple(answers), tuple(catalogue), parent_index))
    return tuple(questions)


QUESTIONS: tuple[Question, ...] = _build_tree()
N_ANSWERS = sum(len(q.answers) for q in QUESTIONS)


def question_slices() -> list[slice]:
    """Slices of the 37-vector, one per question, in tree order."""
    slices, start = [], 0
    for q in QUESTIONS:
        slices.append(slice(start, start + len(q.answers)))
        start += len(q.answers)
    return slices


def answer_names() -> list[str]:
    """Readable feature names, e.g. ``q01_smooth_or_features_smooth``."""
    return [f"q{q.number:02d}_{q.slug}_{a}" for q in QUESTIONS for a in q.answers]


def kaggle_names() -> list[str]:
    """Kaggle Galaxy Challenge column names (Class1.1 ... Class11.6)."""
    return [f"Class{q.number}.{i + 1}" for q in QUESTIONS for i in range(len(q.answers))]


def catalogue_columns(suffix: str = "weighted_fraction") -> list[str]:
    """GZ2 catalogue column names (Willett et al. 2013; Hart et al. 2016) in our answer order."""
    return [f"t{q.number:02d}_{q.slug}_{a}_{suffix}" for q in QUESTIONS for a in q.catalogue_answers]


def normalise(raw: np.ndarray) -> np.ndarray:
    """Turn non-negative per-answer scores into unconditional GZ2 probabilities.

    Per question, answers are divided by their sum (an all-zero question stays zero), then
    multiplied by the probability that the question is asked. Parents always precede
    children in the tree order, so one pass suffices. Works on (37,) or (N, 37).
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.shape[-1] != N_ANSWERS:
        raise ValueError(f"expected {N_ANSWERS} answers in the last axis, got {raw.shape[-1]}")
    if np.any(raw < 0) or not np.all(np.isfinite(raw)):
        raise ValueError("GZ2 scores must be finite and non-negative")
    out = np.zeros_like(raw)
    for q, sl in zip(QUESTIONS, question_slices()):
        block = raw[..., sl]
        total = block.sum(axis=-1, keepdims=True)
        share = np.divide(block, total, out=np.zeros_like(block), where=total > 0)
        asked = 1.0 if q.parent is None else out[..., q.parent : q.parent + 1]
        out[..., sl] = share * asked
    return out
