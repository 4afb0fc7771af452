"""HyperLeda exports: ``al2000`` in hours, ``de2000`` in degrees, ``logd25`` in log10(0.1 arcmin).

Two forms are read: the CSV export, and the text form of HyperLeda's SQL interface (``#``
comment lines, then a header and rows whose fields are separated by ``|`` and padded with
spaces to fixed widths; a blank field is a missing value); any other table format mlpipe reads
(io/table.py) works too, with the user's column names mapped in the config.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mlpipe.io.atomic import atomic_path, write_csv
from mlpipe.io.table import read_table
from mlpipe.io.validation import InputError, angle_degrees, log_d25, range_reasons

REQUIRED = ["objname", "al2000", "de2000", "logd25"]


def read_hyperleda(path: str | Path, column_map: Mapping[str, str] | None = None,
                   units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a HyperLeda export (CSV, ``|`` text, or any table format; ``column_map`` = {our name:
    the file's name} for objname, al2000, de2000, logd25); returns name, ra/dec in degrees and D25 in
    arcmin. ``al2000`` is in hours unless the file or ``units`` (e.g. {al2000: deg}) says otherwise;
    ``logd25`` is log10(D25 / 0.1 arcmin) unless the file gives it another unit
    (:func:`mlpipe.io.validation.log_d25`: a log of another angle, or a linear diameter in arcmin).

    A missing, non-finite or impossible ``logd25`` is kept as NaN with the reason in ``d25_problem``,
    so that the sample builder records why a matched galaxy fails; a bad position is an error.
    """
    raw = read_table(path)
    found = raw.require(REQUIRED, column_map, what="inputs.hyperleda.columns")
    raw.check_column_map(column_map, "inputs.hyperleda.columns")
    units = dict(units or {})
    ra_unit = raw.unit(found["al2000"]) or units.get("al2000") or "hourangle"
    ra = angle_degrees(raw.numbers(found["al2000"]), ra_unit, "hourangle", f"{path}, column '{found['al2000']}'")
    dec = angle_degrees(raw.numbers(found["de2000"]), raw.unit(found["de2000"]) or units.get("de2000"), "deg",
                        f"{path}, column '{found['de2000']}'")
    for values, name, lo, hi in ((ra, "al2000", 0.0, 360.0), (dec, "de2000", -90.0, 90.0)):
        bad = ~((values >= lo) & (values <= hi))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            scale = 15.0 if name == "al2000" and ra_unit in ("h", "hour", "hours", "hourangle") else 1.0
            what = ("missing" if np.isnan(values[row])
                    else f"{round(values[row] / scale, 9)} is outside [{lo / scale:g}, {hi / scale:g}]")
            raise InputError(f"{raw.where(row, found[name])}: {what}")
    names = raw.strings(found["objname"])
    logd25 = log_d25(raw.numbers(found["logd25"]), raw.unit(found["logd25"]), f"{path}, column '{found['logd25']}'")
    problem = range_reasons(logd25, "logd25", "HyperLeda logd25")
    problem[np.isnan(logd25)] = "HyperLeda lists no logd25"
    logd25 = np.where(problem == "", logd25, np.nan)
    out = pd.DataFrame({"leda_name": names, "leda_ra": ra, "leda_dec": dec, "logd25": logd25,
                        "d25_problem": problem})
    dup = out["leda_name"].duplicated() & (out["leda_name"] != "")
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{raw.where(row, found['objname'])}: duplicate id {out['leda_name'].iloc[row]}")
    out["d25_arcmin"] = 0.1 * 10.0 ** out["logd25"]
    return out


def _export_columns(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"pgc": df["pgc"], "objname": df["leda_name"],
                         "al2000": (df["leda_ra"] / 15.0).round(7), "de2000": df["leda_dec"].round(7),
                         "logd25": df["logd25"].round(3)})


def write_hyperleda(df: pd.DataFrame, path: str | Path) -> None:
    """Write the CSV export layout from columns pgc, leda_name, leda_ra (deg), leda_dec, logd25."""
    write_csv(_export_columns(df), path)


def write_hyperleda_text(df: pd.DataFrame, path: str | Path) -> None:
    """Write the ``|`` text form of HyperLeda's SQL interface (blank field = missing)."""
    out = _export_columns(df).astype(object).where(_export_columns(df).notna(), "")
    widths = {c: max(len(c), *(len(str(v)) for v in out[c])) if len(out) else len(c) for c in out.columns}
    buf = io.StringIO()
    buf.write("# HyperLeda SQL query output (text)\n")
    buf.write("|".join(c.rjust(widths[c]) for c in out.columns) + "|\n")
    for _, row in out.iterrows():
        buf.write("|".join(str(row[c]).rjust(widths[c]) for c in out.columns) + "|\n")
    with atomic_path(path, ".txt") as tmp:
        tmp.write_text(buf.getvalue())
