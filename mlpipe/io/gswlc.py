"""GSWLC-2 (Salim et al. 2016, 2018): SED-fitted stellar masses.

The public release is a whitespace text file (``GSWLC-X2.dat``) with the columns below in this
order and -99 for missing values; the same columns also come as FITS (upper-case names) or in any
table format mlpipe reads (io/table.py), with the user's own names mapped in the config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mlpipe.io.atomic import atomic_path
from mlpipe.io.table import RawTable, read_table
from mlpipe.io.validation import InputError, integer_valued

log = logging.getLogger(__name__)

COLUMNS = ["objid", "glxid", "plate", "mjd", "fiber_id", "ra", "dec", "z", "redchisq",
           "logmstar", "logmstarerr", "logsfrsed", "logsfrsederr", "afuv", "afuverr",
           "ab", "aberr", "av", "averr", "flag_sed", "uv_survey", "logsfraw", "flag_wise",
           "logsfruw", "flag_unwise", "flag_mgs"]
REQUIRED = ["objid", "ra", "dec", "z", "redchisq", "logmstar", "logmstarerr", "flag_sed"]
#: Other names the release's FITS form uses for our columns.
ALIASES = {"dec": ("decl",)}
MISSING = -99.0
#: 64-bit ids (SDSS objid, GALEX glxid: 19 digits), read exactly, never through float
_ID_COLUMNS = {"objid", "glxid"}
_INT_COLUMNS = {*_ID_COLUMNS, "plate", "mjd", "fiber_id", "flag_sed", "uv_survey", "flag_wise", "flag_unwise",
                "flag_mgs"}
_FORMATS = {c: ("{:d}" if c in _INT_COLUMNS else "{:.6f}") for c in COLUMNS}


def read_gswlc(path: str | Path, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a GSWLC-2 catalogue (the whitespace text release, or any table format with its columns,
    named through ``column_map`` = {our name: the file's name}).

    Returns our column names (``REQUIRED`` and whichever of the other release columns the file has)
    plus ``line`` (where each row is in the file). ``objid`` and ``glxid`` are read as 64-bit
    integers, never through float; -99, a blank field or a NULL is missing: NaN in a float column,
    -99 in an integer one (a missing ``flag_sed`` is then not a good fit); the flag columns must be
    whole numbers; RA/Dec must be on the sky. A release column mlpipe does not use (not in
    ``REQUIRED``) that cannot be read exactly (a float id, a fractional flag) is left out with a
    warning instead of stopping the run. Rows with objid <= 0 (padding in cross-matched tables) are
    kept: the sample builder records them as rejected."""
    raw = read_table(path, names=COLUMNS)
    found = raw.require(REQUIRED, column_map, ALIASES, "inputs.gswlc.columns")
    for name in COLUMNS:
        if name not in found:
            col = raw.find(name, column_map, ALIASES.get(name, ()))
            if col is not None:
                found[name] = col
    raw.check_column_map(column_map, "inputs.gswlc.columns")
    df = pd.DataFrame({"line": raw.locations})
    for name, col in list(found.items()):
        try:
            df[name] = _column(raw, name, col)
        except InputError as err:
            if name in REQUIRED:
                raise
            log.warning("%s; column left out (mlpipe does not use it)", err)
            del found[name]
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


def _column(raw: RawTable, name: str, col: str) -> np.ndarray:
    """Our column ``name`` from the file's ``col``: an exact id, an integer flag (missing: -99) or a
    float (missing: NaN)."""
    if name in _ID_COLUMNS:
        return raw.ids(col, missing=None if name == "objid" else int(MISSING))
    if name in _INT_COLUMNS:
        values = raw.numbers(col)
        values[np.isnan(values)] = MISSING
        return integer_valued(values, raw.where, col)
    if name in ("ra", "dec"):
        return raw.angles(col, missing=(MISSING,))
    return raw.numbers(col, missing=(MISSING,))


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

