"""Checks shared by the catalogue readers; every message names the file, line and column."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd


class InputError(ValueError):
    """A malformed input file: the message says where and what."""


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")


def to_numeric(df: pd.DataFrame, columns: Iterable[str], path: str, first_line: int) -> pd.DataFrame:
    """Convert columns to numbers; text in a numeric column is an error naming line and column.

    ``first_line`` is the file line number of the first data row.
    """
    out = df.copy()
    for col in columns:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna() & (out[col].astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {first_line + row}, column '{col}': "
                             f"not a number: {out[col].iloc[row]!r}")
        out[col] = values
    return out


def check_sky_positions(df: pd.DataFrame, ra: str, dec: str, path: str, first_line: int) -> None:
    for col, lo, hi in ((ra, 0.0, 360.0), (dec, -90.0, 90.0)):
        bad = ~df[col].between(lo, hi)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {first_line + row}, column '{col}': "
                             f"{df[col].iloc[row]} is outside [{lo}, {hi}]")


def check_unique(df: pd.DataFrame, col: str, path: str, first_line: int) -> None:
    dup = df[col].duplicated(keep="first")
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{path}: line {first_line + row}, column '{col}': "
                         f"duplicate id {df[col].iloc[row]}")


def read_csv_checked(path: str, columns: Iterable[str], **kwargs) -> pd.DataFrame:
    """Read a CSV, turning parser errors (wrong field counts) into InputError naming the file."""
    try:
        df = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: {err}") from err
    require_columns(df, columns, path)
    return df
