"""Galaxy Zoo 2 catalogues (Willett et al. 2013 tables; Hart et al. 2016 ``gz2_hart16.csv``).

The ``tNN_..._aNN_..._weighted_fraction`` columns are conditional vote fractions (among the
volunteers who answered that question); :func:`mlpipe.gz2.normalise` turns them into the
unconditional probabilities that the networks learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe import gz2
from mlpipe.io.atomic import write_csv
from mlpipe.io.validation import InputError, check_sky_positions, read_csv_checked, to_numeric

ID_COLUMNS = ("dr7objid", "objid")


def read_gz2(path: str | Path) -> pd.DataFrame:
    """Read a GZ2 table: id, ra, dec (degrees) and the 37 unconditional probabilities."""
    fractions = gz2.catalogue_columns()
    df = read_csv_checked(str(path), ["ra", "dec", *fractions])
    id_col = next((c for c in ID_COLUMNS if c in df.columns), None)
    if id_col is None:
        raise InputError(f"{path}: missing an id column (one of {', '.join(ID_COLUMNS)})")
    df = to_numeric(df, ["ra", "dec", *fractions], str(path), first_line=2)
    check_sky_positions(df, "ra", "dec", str(path), first_line=2)
    values = df[fractions].to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0) | (values > 1 + 1e-6)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"{path}: line {row + 2}, column '{fractions[col]}': "
                         f"vote fraction {values[row, col]} is not in [0, 1]")
    probabilities = gz2.normalise(values)
    out = pd.DataFrame(probabilities, columns=[f"gz2_{n}" for n in gz2.answer_names()])
    out.insert(0, "gz2_dec", df["dec"].to_numpy())
    out.insert(0, "gz2_ra", df["ra"].to_numpy())
    out.insert(0, "gz2_id", df[id_col].astype(str).to_numpy())
    return out


def write_gz2(ids: np.ndarray, ra: np.ndarray, dec: np.ndarray, fractions: np.ndarray,
              votes: np.ndarray, path: str | Path) -> None:
    """Write conditional weighted fractions in the Hart et al. 2016 column layout."""
    df = pd.DataFrame({"dr7objid": ids, "ra": np.round(ra, 7), "dec": np.round(dec, 7),
                       "total_votes": votes})
    for name, column in zip(gz2.catalogue_columns(), fractions.T):
        df[name] = np.round(column, 4)
    write_csv(df, path)
