"""Galaxy Zoo 2 catalogues (Willett et al. 2013 tables; Hart et al. 2016 ``gz2_hart16.csv``).

The ``tNN_..._aNN_..._weighted_fraction`` columns are conditional vote fractions (among the
volunteers who answered that question); :func:`mlpipe.gz2.normalise` turns them into the
unconditional probabilities that the networks learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mlpipe import gz2
from mlpipe.io.atomic import write_csv
from mlpipe.io.table import read_table
from mlpipe.io.validation import InputError

ID_COLUMNS = ("dr7objid", "objid")
#: A question's fractions sum to one when it was answered (0 when no volunteer reached it); the
#: published fractions are rounded to 3-4 decimals.
SUM_TOLERANCE = 0.02


def read_gz2(path: str | Path, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a GZ2 table (any format; ``column_map`` = {our name: the file's name}): id, ra, dec
    (degrees) and the 37 unconditional probabilities.

    Each fraction must be in [0, 1]; the first question's fractions must sum to one and every
    other question's to one or zero (nobody reached it); ids are unique 64-bit integers (or exact
    text). A row that breaks this is an error naming its line and the question."""
    fractions = gz2.catalogue_columns()
    raw = read_table(path)
    # a mapped id name first; each looked up, so that the map may name either
    candidates = [raw.find(c, column_map) for c in sorted(ID_COLUMNS, key=lambda c: c not in (column_map or {}))]
    id_col = next((c for c in candidates if c is not None), None)
    if id_col is None:
        raise InputError(f"{path}: missing an id column (one of {', '.join(ID_COLUMNS)}); map yours with "
                         "inputs.gz2.columns")
    found = raw.require(["ra", "dec", *fractions], column_map, what="inputs.gz2.columns")
    raw.check_column_map(column_map, "inputs.gz2.columns")
    ids = raw.ids(id_col)
    ra, dec = raw.angles(found["ra"]), raw.angles(found["dec"])
    for values, name, lo, hi in ((ra, "ra", 0.0, 360.0), (dec, "dec", -90.0, 90.0)):
        bad = ~((values >= lo) & (values <= hi))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{raw.where(row, found[name])}: {values[row]} is outside [{lo:g}, {hi:g}]")
    values = np.column_stack([raw.numbers(found[c]) for c in fractions])
    bad = ~np.isfinite(values) | (values < 0) | (values > 1 + 1e-6)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"{raw.where(row, found[fractions[col]])}: vote fraction {values[row, col]} is not in [0, 1]")
    for question, sl in zip(gz2.QUESTIONS, gz2.question_slices()):
        total = values[:, sl].sum(axis=1)
        answered = np.abs(total - 1.0) <= SUM_TOLERANCE
        ok = answered if question.parent is None and question.number == 1 else answered | (total == 0.0)
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise InputError(f"{raw.where(row, found[fractions[sl.start]])}: the fractions of question "
                             f"{question.number} ({question.slug}) sum to {total[row]:.3g}, not to one"
                             + ("" if question.number == 1 else " (or zero when nobody reached it)"))
    dup = pd.Series(ids).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{raw.where(row, id_col)}: duplicate id {ids[row]}")
    probabilities = gz2.normalise(values)
    out = pd.DataFrame(probabilities, columns=[f"gz2_{n}" for n in gz2.answer_names()])
    out.insert(0, "gz2_dec", dec)
    out.insert(0, "gz2_ra", ra)
    out.insert(0, "gz2_id", ids.astype(str))
    return out


def write_gz2(ids: np.ndarray, ra: np.ndarray, dec: np.ndarray, fractions: np.ndarray,
              votes: np.ndarray, path: str | Path) -> None:
    """Write conditional weighted fractions in the Hart et al. 2016 column layout."""
    df = pd.DataFrame({"dr7objid": ids, "ra": np.round(ra, 7), "dec": np.round(dec, 7),
                       "total_votes": votes})
    for name, column in zip(gz2.catalogue_columns(), fractions.T):
        df[name] = np.round(column, 4)
    write_csv(df, path)
