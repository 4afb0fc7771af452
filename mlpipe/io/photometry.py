"""SDSS photometry tables (CasJobs PhotoObj export): modelMag, errors and Galactic extinction."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from mlpipe.io.atomic import write_csv
from mlpipe.io.validation import check_unique, read_csv_checked, to_numeric

BANDS = "ugriz"
COLUMNS = ["objid"] + [f"{kind}_{b}" for kind in ("modelMag", "modelMagErr", "extinction")
                       for b in BANDS]


def read_photometry(path: str | Path, extra_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read the photometry table (and any ``extra_columns``, e.g. a user's own luminosity);
    values of -9999 (SDSS's missing marker) become NaN."""
    columns = COLUMNS + [c for c in extra_columns if c not in COLUMNS]
    df = read_csv_checked(str(path), columns)
    df = to_numeric(df, columns, str(path), first_line=2)
    df["objid"] = df["objid"].astype("int64")
    check_unique(df, "objid", str(path), first_line=2)
    values = [c for c in columns if c != "objid"]
    df[values] = df[values].mask(df[values] <= -999)
    return df[columns]


def write_photometry(df: pd.DataFrame, path: str | Path) -> None:
    write_csv(df[COLUMNS].round(4), path)
