"""The catalogue of new galaxies to predict: position, redshift, D25 and optional photometry.

Required columns: ``objid``, ``ra``, ``dec`` (degrees), ``z`` and ``d25_arcmin`` (or HyperLeda's
``logd25``). Optional: ``modelMag_<band>`` with ``extinction_<band>`` (SDSS) for the colour
predictors and the stellar mass, and the luminosity column the bundle was trained with
(``catalog.lum_g_column``, log10 L_g / L_sun).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe.io.validation import InputError, check_sky_positions, check_unique, read_csv_checked, to_numeric

REQUIRED = ["objid", "ra", "dec", "z"]


def read_new_galaxies(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (galaxies, rejected): rows with an unusable redshift or D25 are rejected with the reason."""
    df = read_csv_checked(str(path), REQUIRED)
    if "d25_arcmin" not in df and "logd25" not in df:
        raise InputError(f"{path}: missing column d25_arcmin (or logd25)")
    numeric = [c for c in df.columns if c != "objid"]
    df = to_numeric(df, ["objid", *numeric], str(path), first_line=2)
    if df["objid"].isna().any():
        row = int(np.flatnonzero(df["objid"].isna().to_numpy())[0])
        raise InputError(f"{path}: line {row + 2}, column 'objid': missing id")
    df["objid"] = df["objid"].astype("int64")
    check_unique(df, "objid", str(path), first_line=2)
    check_sky_positions(df, "ra", "dec", str(path), first_line=2)
    if "d25_arcmin" not in df:
        df["d25_arcmin"] = 0.1 * 10.0 ** df["logd25"]
    reasons = pd.Series("", index=df.index)
    reasons[~(df["d25_arcmin"] > 0)] = "no D25 (needed for the field of view)"
    reasons[~(df["z"] > 0)] = "redshift missing or <= 0"
    bad = reasons != ""
    rejected = pd.DataFrame({"objid": df.loc[bad, "objid"], "reason": reasons[bad]})
    return df[~bad].reset_index(drop=True), rejected.reset_index(drop=True)
