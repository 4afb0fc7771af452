"""Image index: which FITS file holds each galaxy, for images that are frames shared by several
galaxies (SDSS frames plus positions) rather than one ``{objid}.fits`` cut-out per galaxy."""

from __future__ import annotations

from pathlib import Path


from mlpipe.io.validation import check_unique, read_csv_checked, to_numeric

COLUMNS = ["objid", "file"]


def read_image_index(path: str | Path) -> dict[int, str]:
    """objid -> file name (relative to the image folder); the cut-out is then made by the WCS."""
    df = read_csv_checked(str(path), COLUMNS)
    df = to_numeric(df, ["objid"], str(path), first_line=2)
    df["objid"] = df["objid"].astype("int64")
    check_unique(df, "objid", str(path), first_line=2)
    return dict(zip(df["objid"].tolist(), df["file"].astype(str).str.strip()))
