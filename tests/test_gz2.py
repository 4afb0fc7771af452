import numpy as np
import pytest

from mlpipe import gz2


def test_tree_has_37_answers_in_kaggle_order():
    assert gz2.N_ANSWERS == 37
    names = gz2.kaggle_names()
    assert names[0] == "Class1.1" and names[-1] == "Class11.6" and names[25] == "Class9.1"
    assert [q.parent for q in gz2.QUESTIONS][:3] == [None, 1, 4]  # Q2 after 1.2, Q3 after 2.2


def test_catalogue_columns_keep_published_numbering_quirks():
    cols = gz2.catalogue_columns()
    assert len(cols) == 37 and len(set(cols)) == 37
    assert cols[24] == "t08_odd_feature_a38_dust_lane_weighted_fraction"
    assert cols[28] == "t10_arms_winding_a28_tight_weighted_fraction"
    assert "t11_arms_number_a36_more_than_4_weighted_fraction" in cols
    assert not any("a35" in c for c in cols)


def test_normalise_gives_unconditional_probabilities():
    rng = np.random.default_rng(0)
    raw = rng.random((200, 37)) * (rng.random((200, 37)) > 0.2)
    p = gz2.normalise(raw)
    slices = gz2.question_slices()
    for q, sl in zip(gz2.QUESTIONS, slices):
        total = p[:, sl].sum(axis=1)
        raw_total = raw[:, sl].sum(axis=1)
        asked = np.ones(200) if q.parent is None else p[:, q.parent]
        np.testing.assert_allclose(total, np.where(raw_total > 0, asked, 0.0), atol=1e-12)
    assert np.allclose(p[:, slices[0]].sum(1)[raw[:, slices[0]].sum(1) > 0], 1.0)
    assert np.allclose(p[:, slices[5]].sum(1)[raw[:, slices[5]].sum(1) > 0], 1.0)


def test_normalise_hand_worked_example():
    raw = np.zeros(37)
    raw[0:3] = [1, 3, 0]        # Q1: smooth 0.25, features 0.75
    raw[3:5] = [1, 1]           # Q2 edge-on: 0.5 of 0.75
    raw[9:13] = [0, 0, 2, 2]    # Q5 bulge after 2.2 (0.375): obvious/dominant 0.1875 each
    raw[13:15] = [1, 4]         # Q6 odd: 0.2
    raw[15:18] = [2, 0, 0]      # Q7 round after 1.1: 0.25
    p = gz2.normalise(raw)
    assert p[0] == pytest.approx(0.25) and p[1] == pytest.approx(0.75)
    assert p[3] == pytest.approx(0.375) and p[4] == pytest.approx(0.375)
    assert p[11] == pytest.approx(0.1875) and p[12] == pytest.approx(0.1875)
    assert p[13] == pytest.approx(0.2)
    assert p[15] == pytest.approx(0.25)
    assert np.all(p[18:25] == 0)  # Q8 all zero stays zero, no NaN


def test_normalise_rejects_negative_or_nan():
    with pytest.raises(ValueError):
        gz2.normalise(-np.ones(37))
    with pytest.raises(ValueError):
        gz2.normalise(np.full(37, np.nan))
