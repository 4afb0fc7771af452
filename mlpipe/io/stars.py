"""Point-source catalogues (SDSS type = STAR): the prior for foreground-star subtraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe.io.atomic import write_csv
from mlpipe.io.validation import check_sky_positions, read_csv_checked, to_numeric

COLUMNS = ["ra", "dec", "psfMag_g"]


def read_stars(path: str | Path) -> pd.DataFrame:
    df = read_csv_checked(str(path), COLUMNS)
    df = to_numeric(df, COLUMNS, str(path), first_line=2)
    check_sky_positions(df, "ra", "dec", str(path), first_line=2)
    return df[COLUMNS].reset_index(drop=True)


def write_stars(df: pd.DataFrame, path: str | Path) -> None:
    write_csv(df[COLUMNS].round({"ra": 7, "dec": 7, "psfMag_g": 3}), path)


def stars_within(stars: pd.DataFrame, ra: float, dec: float, radius_arcsec: float) -> pd.DataFrame:
    """The catalogue stars within ``radius_arcsec`` of (ra, dec), RA wrap-around included."""
    d_dec = (stars["dec"].to_numpy() - dec) * 3600.0
    d_ra = ((stars["ra"].to_numpy() - ra + 180.0) % 360.0 - 180.0) * 3600.0 * np.cos(np.radians(dec))
    return stars[np.hypot(d_ra, d_dec) < radius_arcsec]
