"""GSWLC-2 (Salim et al. 2016, 2018): SED-fitted stellar masses.

The public release is a whitespace text file (``GSWLC-X2.dat``) with the columns below in this
order and -99 for missing values; the same columns also come as FITS (upper-case names) or in any
table format mlpipe reads (io/table.py), with the user's own names mapped in the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mlpipe.io.atomic import atomic_path
from mlpipe.io.table import read_table
from mlpipe.io.validation import InputError, integer_valued

COLUMNS = ["objid", "glxid", "plate", "mjd", "fiber_id", "ra", "dec", "z", "redchisq",
           "logmstar", "logmstarerr", "logsfrsed", "logsfrsederr", "afuv", "afuverr",
           "ab", "aberr", "av", "averr", "flag_sed", "uv_survey", "logsfraw", "flag_wise",
           "logsfruw", "flag_unwise", "flag_mgs"]
REQUIRED = ["objid", "ra", "dec", "z", "redchisq", "logmstar", "logmstarerr", "flag_sed"]
#: Other names the release's FITS form uses for our columns.
ALIASES = {"dec": ("decl",)}
MISSING = -99.0
_INT_COLUMNS = {"objid", "glxid", "plate", "mjd", "fiber_id", "flag_sed", "uv_survey",
                "flag_wise", "flag_unwise", "flag_mgs"}
_FORMATS = {c: ("{:d}" if c in _INT_COLUMNS else "{:.6f}") for c in COLUMNS}


def read_gswlc(path: str | Path, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a GSWLC-2 catalogue (the whitespace text release, or any table format with its columns,
    named through ``column_map`` = {our name: the file's name}).

    Returns our column names (``REQUIRED`` and whichever of the other release columns the file has)
    plus ``line`` (where each row is in the file). ``objid`` is read as a 64-bit integer, never
    through float; -99 becomes NaN; the flag columns must be whole numbers; RA/Dec must be on the
    sky. Rows with objid <= 0 (padding in cross-matched tables) are kept: the sample builder
    records them as rejected."""
    raw = read_table(path, names=COLUMNS)
    found = raw.require(REQUIRED, column_map, ALIASES, "inputs.gswlc.columns")
    for name in COLUMNS:
        if name not in found:
            col = raw.find(name, column_map, ALIASES.get(name, ()))
            if col is not None:
                found[name] = col
    df = pd.DataFrame({"line": raw.locations})
    for name, col in found.items():
        if name == "objid":
            df[name] = raw.ids(col)
        elif name in _INT_COLUMNS:  # -99 (missing) stays -99: a missing flag_sed is not a good fit
            df[name] = integer_valued(raw.numbers(col), raw.where, col)
        else:
            df[name] = raw.numbers(col, missing=(MISSING,))
    real = (df["objid"] > 0).to_numpy()
    for name, lo, hi in (("ra", 0.0, 360.0), ("dec", -90.0, 90.0)):
        values = df[name].to_numpy()
        bad = real & ~((values >= lo) & (values <= hi))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            what = "missing (-99 or blank)" if np.isnan(values[row]) else f"{values[row]} is outside [{lo:g}, {hi:g}]"
            raise InputError(f"{raw.where(row, found[name])}: position {what}; every GSWLC row needs RA and Dec "
                             "in degrees")
    dup = df["objid"].duplicated() & real
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{raw.where(row, found['objid'])}: duplicate id {df['objid'].iloc[row]}")
    return df[["line"] + [c for c in COLUMNS if c in df.columns]]


def write_gswlc(df: pd.DataFrame, path: str | Path) -> None:
    """Write the whitespace text layout of the public release (-99 for missing)."""
    with atomic_path(path, ".dat") as tmp, open(tmp, "w") as fh:
        for row in df[COLUMNS].itertuples(index=False):
            fields = []
            for col, value in zip(COLUMNS, row):
                if col not in _INT_COLUMNS and not np.isfinite(value):
                    value = MISSING
                fields.append(_FORMATS[col].format(int(value) if col in _INT_COLUMNS else value))
            fh.write(" ".join(fields) + "\n")

