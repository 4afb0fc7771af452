"""Image index: which FITS file holds each galaxy, for images that are frames shared by several
galaxies (SDSS frames plus positions) rather than one ``{objid}.fits`` cut-out per galaxy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlpipe.io.table import read_table
from mlpipe.io.validation import InputError

COLUMNS = ["objid", "file"]


def read_image_index(path: str | Path) -> dict[int, str]:
    """objid -> file name (relative to the image folder); the cut-out is then made by the WCS."""
    raw = read_table(path)
    found = raw.require(COLUMNS)
    ids = raw.ids(found["objid"])
    dup = pd.Series(ids).duplicated()
    if dup.any():
        row = int(dup.to_numpy().nonzero()[0][0])
        raise InputError(f"{raw.where(row, found['objid'])}: duplicate id {ids[row]}")
    files = raw.strings(found["file"])
    for row, name in enumerate(files):
        if name.strip() in ("", ".", ".."):
            raise InputError(f"{raw.where(row, found['file'])}: {'no file name' if not name.strip() else repr(name)} "
                             "(the name of the FITS file, relative to the image folder)")
    return dict(zip(ids.tolist(), files.tolist()))
