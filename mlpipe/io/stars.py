"""Point-source catalogues (SDSS type = STAR): the prior for foreground-star subtraction."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mlpipe.io.atomic import write_csv
from mlpipe.io.table import read_table
from mlpipe.io.validation import MAGNITUDE_MISSING, RANGES, InputError

COLUMNS = ["ra", "dec", "psfMag_g"]


def read_stars(path: str | Path, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """ra, dec (degrees) and psfMag_g of every listed point source, from any table format
    (``column_map`` = {our name: the file's name}). A header-only text file or a FITS, VOTable or
    ECSV table with no rows is an empty list (its header must still name the columns); ra and dec
    are in degrees unless the file gives another angle unit; a star off the sky is an error naming
    its line; a missing magnitude (99, -9999, blank) is NaN, one outside ``RANGES["star_mag"]`` an
    error naming its line."""
    raw = read_table(path, allow_empty=True)
    found = raw.require(COLUMNS, column_map, what="inputs.stars.columns")
    raw.check_column_map(column_map, "inputs.stars.columns")
    if len(raw) == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
    df = pd.DataFrame({c: raw.angles(found[c]) if c in ("ra", "dec") else raw.numbers(found[c]) for c in COLUMNS})
    for name, lo, hi in (("ra", 0.0, 360.0), ("dec", -90.0, 90.0)):
        bad = ~df[name].between(lo, hi).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{raw.where(row, found[name])}: {df[name].iloc[row]} is outside [{lo:g}, {hi:g}]")
    df["psfMag_g"] = df["psfMag_g"].mask(df["psfMag_g"].isin(MAGNITUDE_MISSING) | ~np.isfinite(df["psfMag_g"]))
    lo, hi = RANGES["star_mag"]
    bad = (df["psfMag_g"].notna() & ~df["psfMag_g"].between(lo, hi)).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{raw.where(row, found['psfMag_g'])}: {df['psfMag_g'].iloc[row]} is outside [{lo:g}, {hi:g}] "
                         f"(no star's magnitude; a missing one is blank, NaN, 99, -99, 9999 or -9999)")
    return df


def write_stars(df: pd.DataFrame, path: str | Path) -> None:
    write_csv(df[COLUMNS].round({"ra": 7, "dec": 7, "psfMag_g": 3}), path)


def stars_within(stars: pd.DataFrame, ra: float, dec: float, radius_arcsec: float) -> pd.DataFrame:
    """The catalogue stars within ``radius_arcsec`` of (ra, dec), RA wrap-around included."""
    d_dec = (stars["dec"].to_numpy() - dec) * 3600.0
    d_ra = ((stars["ra"].to_numpy() - ra + 180.0) % 360.0 - 180.0) * 3600.0 * np.cos(np.radians(dec))
    return stars[np.hypot(d_ra, d_dec) < radius_arcsec]
