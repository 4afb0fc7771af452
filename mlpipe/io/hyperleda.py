"""HyperLeda exports: ``al2000`` in hours, ``de2000`` in degrees, ``logd25`` in log10(0.1 arcmin).

Two forms are read: the CSV export, and the text form of HyperLeda's SQL interface (``#``
comment lines, then a header and rows whose fields are separated by ``|`` and padded with
spaces to fixed widths; a blank field is a missing value).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from mlpipe.io.atomic import atomic_path, write_csv
from mlpipe.io.validation import InputError, read_csv_checked, require_columns

REQUIRED = ["objname", "al2000", "de2000", "logd25"]


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank, non-comment lines."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [(n, line.rstrip("\n")) for n, line in enumerate(fh, start=1)
                if line.strip() and not line.lstrip().startswith("#")]


def _is_pipe_text(lines: list[tuple[int, str]]) -> bool:
    return bool(lines) and "|" in lines[0][1]


def _read_pipe_text(path: Path, lines: list[tuple[int, str]]) -> tuple[pd.DataFrame, list[int]]:
    """The fixed-width ``|`` form; returns the table and the file line of each row."""
    def fields(text: str) -> list[str]:
        parts = [p.strip() for p in text.split("|")]
        return parts[:-1] if parts and parts[-1] == "" else parts

    header = fields(lines[0][1])
    rows, line_numbers = [], []
    for n, text in lines[1:]:
        if set(text.strip()) <= set("-+|= "):  # a ruler line under the header
            continue
        values = fields(text)
        if len(values) != len(header):
            raise InputError(f"{path}: line {n}: expected {len(header)} '|'-separated fields, "
                             f"found {len(values)}")
        rows.append([v if v else None for v in values])
        line_numbers.append(n)
    return pd.DataFrame(rows, columns=header), line_numbers


def read_hyperleda(path: str | Path) -> pd.DataFrame:
    """Read a HyperLeda export (CSV or ``|`` text); returns name, ra/dec in degrees and D25 in arcmin.

    Rows without ``logd25`` are kept with NaN so that the sample builder can record why they fail.
    """
    path = Path(path)
    lines = _data_lines(path)
    if _is_pipe_text(lines):
        df, line_numbers = _read_pipe_text(path, lines)
        require_columns(df, REQUIRED, str(path))
    else:
        df = read_csv_checked(str(path), REQUIRED, skipinitialspace=True, comment="#")
        line_numbers = [n for n, _ in lines[1:]]
        if len(line_numbers) != len(df):  # quoted line breaks: fall back to row order
            line_numbers = list(range(2, 2 + len(df)))
    if df.empty:
        raise InputError(f"{path}: no data rows")
    df.index = pd.Index(line_numbers)
    out = _convert(df, path)
    out.index = pd.RangeIndex(len(out))
    return out


def _first_bad(mask: pd.Series) -> int:
    """The file line of the first row under ``mask``."""
    return int(mask.index[np.flatnonzero(mask.to_numpy())[0]])


def _convert(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Units, checks and the output columns; ``df``'s index holds each row's file line."""
    for col in ["al2000", "de2000", "logd25"]:
        numbers = pd.to_numeric(df[col], errors="coerce")
        bad = numbers.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
        if bad.any():
            line = _first_bad(bad)
            raise InputError(f"{path}: line {line}, column '{col}': not a number: {df[col].loc[line]!r}")
        df[col] = numbers
    out = pd.DataFrame({"leda_name": df["objname"].astype(str).str.strip(), "leda_ra": df["al2000"] * 15.0,
                        "leda_dec": df["de2000"], "logd25": df["logd25"]}, index=df.index)
    missing = out[["leda_ra", "leda_dec"]].isna().any(axis=1)
    if missing.any():
        raise InputError(f"{path}: line {_first_bad(missing)}: missing al2000/de2000")
    for col, source, lo, hi, scale in (("leda_ra", "al2000", 0.0, 360.0, 15.0), ("leda_dec", "de2000", -90.0, 90.0, 1.0)):
        bad = ~out[col].between(lo, hi)
        if bad.any():
            line = _first_bad(bad)
            raise InputError(f"{path}: line {line}, column '{source}': {out[col].loc[line] / scale} is outside "
                             f"[{lo / scale:g}, {hi / scale:g}]")
    dup = out["leda_name"].duplicated()
    if dup.any():
        line = _first_bad(dup)
        raise InputError(f"{path}: line {line}, column 'objname': duplicate id {out['leda_name'].loc[line]}")
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
