"""GSWLC-2 (Salim et al. 2016, 2018): SED-fitted stellar masses.

The public release is a whitespace text file (``GSWLC-X2.dat``) with the columns below in this
order and -99 for missing values; the same columns also come as FITS (upper-case names).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe.io.atomic import atomic_path
from mlpipe.io.validation import InputError, check_sky_positions, to_numeric

COLUMNS = ["objid", "glxid", "plate", "mjd", "fiber_id", "ra", "dec", "z", "redchisq",
           "logmstar", "logmstarerr", "logsfrsed", "logsfrsederr", "afuv", "afuverr",
           "ab", "aberr", "av", "averr", "flag_sed", "uv_survey", "logsfraw", "flag_wise",
           "logsfruw", "flag_unwise", "flag_mgs"]
_FITS_NAMES = {"DECL": "dec", "FIBER_ID": "fiber_id"}
MISSING = -99.0
_INT_COLUMNS = {"objid", "glxid", "plate", "mjd", "fiber_id", "flag_sed", "uv_survey",
                "flag_wise", "flag_unwise", "flag_mgs"}
_FORMATS = {c: ("{:d}" if c in _INT_COLUMNS else "{:.6f}") for c in COLUMNS}


def _read_text(path: Path) -> pd.DataFrame:
    rows = []
    with open(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split()
            if len(fields) != len(COLUMNS):
                raise InputError(f"{path}: line {line_no}: expected {len(COLUMNS)} columns, "
                                 f"found {len(fields)}")
            rows.append([line_no] + fields)
    df = pd.DataFrame(rows, columns=["line"] + COLUMNS)
    if df.empty:
        raise InputError(f"{path}: no data rows")
    for col in COLUMNS:
        numbers = pd.to_numeric(df[col], errors="coerce")
        if numbers.isna().any():
            row = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise InputError(f"{path}: line {df['line'].iloc[row]}, column '{col}': "
                             f"not a number: {df[col].iloc[row]!r}")
        df[col] = numbers.astype("int64") if col in _INT_COLUMNS else numbers.astype(float)
    return df


def _read_fits(path: Path) -> pd.DataFrame:
    from astropy.table import Table

    table = Table.read(path)
    names = {c: _FITS_NAMES.get(c, c.lower()) for c in table.colnames}
    df = table.to_pandas().rename(columns=names)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    df = to_numeric(df[COLUMNS], COLUMNS, str(path), first_line=1)
    df.insert(0, "line", np.arange(1, len(df) + 1))
    return df


def read_gswlc(path: str | Path) -> pd.DataFrame:
    """Read a GSWLC-2 catalogue (text or FITS); -99 becomes NaN. Rows with OBJID <= 0 (padding
    in some cross-matched FITS tables) are dropped as not GSWLC rows. ``line`` keeps the file row."""
    path = Path(path)
    df = _read_fits(path) if path.suffix.lower() in (".fits", ".fit") else _read_text(path)
    df = df[df["objid"] > 0].reset_index(drop=True)
    float_cols = [c for c in COLUMNS if c not in _INT_COLUMNS]
    df[float_cols] = df[float_cols].mask(df[float_cols] <= MISSING + 1e-6)
    check_sky_positions(df.fillna({"ra": 0.0, "dec": 0.0}), "ra", "dec", str(path), 1)
    if df["objid"].duplicated().any():
        row = int(np.flatnonzero(df["objid"].duplicated().to_numpy())[0])
        raise InputError(f"{path}: line {df['line'].iloc[row]}, column 'objid': "
                         f"duplicate id {df['objid'].iloc[row]}")
    return df


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

