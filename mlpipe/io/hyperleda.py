"""HyperLeda exports: ``al2000`` in hours, ``de2000`` in degrees, ``logd25`` in log10(0.1 arcmin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe.io.atomic import write_csv
from mlpipe.io.validation import InputError, check_sky_positions, read_csv_checked, to_numeric

REQUIRED = ["objname", "al2000", "de2000", "logd25"]


def read_hyperleda(path: str | Path) -> pd.DataFrame:
    """Read a HyperLeda CSV export; returns name, ra/dec in degrees and D25 in arcmin.

    Rows without ``logd25`` are kept with NaN so that the sample builder can record why they fail.
    """
    df = read_csv_checked(str(path), REQUIRED, skipinitialspace=True)
    df = to_numeric(df, ["al2000", "de2000", "logd25"], str(path), first_line=2)
    df["objname"] = df["objname"].astype(str).str.strip()
    out = pd.DataFrame({"leda_name": df["objname"], "leda_ra": df["al2000"] * 15.0,
                        "leda_dec": df["de2000"], "logd25": df["logd25"]})
    check_sky_positions(out.dropna(subset=["leda_ra", "leda_dec"]), "leda_ra", "leda_dec",
                        str(path), first_line=2)
    if out[["leda_ra", "leda_dec"]].isna().any().any():
        row = int(np.flatnonzero(out[["leda_ra", "leda_dec"]].isna().any(axis=1).to_numpy())[0])
        raise InputError(f"{path}: line {row + 2}: missing al2000/de2000")
    dup = out["leda_name"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{path}: line {row + 2}, column 'objname': duplicate id "
                         f"{out['leda_name'].iloc[row]}")
    out["d25_arcmin"] = 0.1 * 10.0 ** out["logd25"]
    return out


def write_hyperleda(df: pd.DataFrame, path: str | Path) -> None:
    """Write the CSV export layout from columns leda_name, leda_ra (deg), leda_dec, logd25."""
    out = pd.DataFrame({"pgc": df["pgc"], "objname": df["leda_name"],
                        "al2000": (df["leda_ra"] / 15.0).round(7), "de2000": df["leda_dec"].round(7),
                        "logd25": df["logd25"].round(3)})
    write_csv(out, path)
